"""LeetCode 2645, Minimum Additions to Make Valid String. Length = string length."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def add_minimum(word):
  count = 1
  for i in range(1, len(word)):
    if word[i] <= word[i - 1]:
      count += 1
  return 3 * count - len(word)


def sample(rng, length):
  return {"word": "".join(rng.choice("abc") for _ in range(length))}


def question(inst):
  return ask(
      "Given a string word of letters 'a', 'b' and 'c', you may insert these letters anywhere any number of "
      "times. A string is valid if it is a concatenation of copies of \"abc\". Return the minimum number of "
      "letters to insert to make word valid.", inst)


def reference(inst):
  word, i, added = inst["word"], 0, 0
  while i < len(word):  # greedily walk through "abc" blocks
    for ch in "abc":
      if i < len(word) and word[i] == ch:
        i += 1
      else:
        added += 1
  return added


TASK = RuleTask(
    id="lc_2645", name="Minimum Additions to Make Valid String", source="leetcode", split="rf_pretrain",
    length_meaning="string length", rule=add_minimum, sample=sample, question=question, reference=reference)
