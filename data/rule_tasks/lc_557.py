"""LeetCode 557, Reverse Words in a String III. Length = string length."""
from meta_rfft.tasks.lc_helpers import WORDS, ask
from meta_rfft.tasks.spec import RuleTask


def reverse_words(s):
  res = ""
  word = ""
  for c in s:
    if c == " ":
      res += word + " "
      word = ""
    else:
      word = c + word
  return res + word


def sample(rng, length):
  text = ""
  while len(text) < length:
    text += rng.choice(WORDS).capitalize() if rng.random() < 0.2 else rng.choice(WORDS)
    text += " "
  text = text[:length]
  return {"s": text[:-1] + "s" if text.endswith(" ") else text}  # no trailing space


def question(inst):
  return ask(
      "Given a string s of words separated by single spaces, reverse the order of characters in each word "
      "while keeping the words and the spaces in place. Return the new string.", inst)


def reference(inst):
  return " ".join(w[::-1] for w in inst["s"].split(" "))


TASK = RuleTask(
    id="lc_557", name="Reverse Words in a String III", source="leetcode", split="rf_pretrain",
    length_meaning="string length", rule=reverse_words, sample=sample, question=question, reference=reference)
