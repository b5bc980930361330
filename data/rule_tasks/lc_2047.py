"""LeetCode 2047, Number of Valid Words in a Sentence. Length = number of words (tokens)."""
import re

from meta_rfft.tasks.lc_helpers import WORDS, ask
from meta_rfft.tasks.spec import RuleTask

VALID = re.compile(r"([a-z]+(-[a-z]+)?)?[!.,]?")


def count_valid_words(sentence):
  count = 0
  for word in sentence.split():
    if word[-1] in "!.,":
      word = word[:-1]
    if word.count("-") > 1 or word[:1] == "-" or word[-1:] == "-":
      continue
    if word == "" or word.replace("-", "").isalpha():
      count += 1
  return count


def _token(rng):
  a, b = rng.choice(WORDS), rng.choice(WORDS)
  kind = rng.randrange(8)
  token = [a, a, a + "-" + b, a + str(rng.randint(0, 9)), "-" + a, a + "--" + b, a + "!" + b, a[:1]][kind]
  return token + (rng.choice("!.,") if rng.random() < 0.25 else "")


def sample(rng, length):
  return {"sentence": " ".join(_token(rng) for _ in range(length))}


def question(inst):
  return ask(
      "A sentence consists of lowercase letters, digits, hyphens, punctuation marks ('!', '.', ',') and "
      "spaces, and is split into tokens by spaces. A token is a valid word if it has no digits, at most one "
      "hyphen with a lowercase letter on each side, and at most one punctuation mark, at its end. Return the "
      "number of valid words in sentence.", inst)


def reference(inst):
  return sum(bool(VALID.fullmatch(t)) for t in inst["sentence"].split())


TASK = RuleTask(
    id="lc_2047", name="Number of Valid Words in a Sentence", source="leetcode", split="rf_pretrain",
    length_meaning="number of words", rule=count_valid_words, sample=sample, question=question,
    reference=reference)
