"""LeetCode 2129, Capitalize the Title. Length = number of letters in the title (spaces excluded)."""
from meta_rfft.tasks.lc_helpers import LOWER, ask, split_total
from meta_rfft.tasks.spec import RuleTask


def capitalize_title(title):
  res = []
  for word in title.lower().split(" "):
    if len(word) > 2:
      word = word[0].upper() + word[1:]
    res.append(word)
  return " ".join(res)


def sample(rng, length):
  letters = LOWER + LOWER.upper()
  words = ["".join(rng.choice(letters) for _ in range(size)) for size in split_total(rng, length, 1, 6)]
  return {"title": " ".join(words)}


def question(inst):
  return ask(
      "You are given a string title consisting of words separated by a single space. Capitalize it: a word "
      "of 1 or 2 letters becomes all lowercase; otherwise its first letter becomes uppercase and the rest "
      "lowercase. Return the capitalized title.", inst)


def reference(inst):
  return " ".join(w.capitalize() if len(w) > 2 else w.lower() for w in inst["title"].split(" "))


TASK = RuleTask(
    id="lc_2129", name="Capitalize the Title", source="leetcode", split="rf_pretrain",
    length_meaning="characters in the word", rule=capitalize_title, sample=sample, question=question,
    reference=reference)
