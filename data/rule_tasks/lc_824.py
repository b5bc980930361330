"""LeetCode 824, Goat Latin. Length = number of words."""
from meta_rfft.tasks.lc_helpers import WORDS, ask
from meta_rfft.tasks.spec import RuleTask


def goat_latin(sentence):
  res = []
  for i, word in enumerate(sentence.split(" ")):
    if word[0] in "aeiouAEIOU":
      word = word + "ma"
    else:
      word = word[1:] + word[0] + "ma"
    res.append(word + "a" * (i + 1))
  return " ".join(res)


def sample(rng, length):
  words = [rng.choice(WORDS) for _ in range(length)]
  return {"sentence": " ".join(w.capitalize() if rng.random() < 0.3 else w for w in words)}


def question(inst):
  return ask(
      "You are given a sentence of words separated by single spaces. Convert it to Goat Latin: a word "
      "starting with a vowel gets 'ma' appended; otherwise its first letter moves to the end and then 'ma' "
      "is appended; finally the i-th word (from 1) gets i letters 'a' appended. Return the sentence.", inst)


def reference(inst):
  out = []
  for i, w in enumerate(inst["sentence"].split(), start=1):
    core = w if w.lower()[0] in "aeiou" else w[1:] + w[:1]
    out.append(core + "ma" + "a" * i)
  return " ".join(out)


TASK = RuleTask(
    id="lc_824", name="Goat Latin", source="leetcode", split="rf_pretrain", length_meaning="number of words",
    rule=goat_latin, sample=sample, question=question, reference=reference)
