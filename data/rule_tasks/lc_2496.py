"""LeetCode 2496, Maximum Value of a String in an Array. Length = array length."""
from meta_rfft.tasks.lc_helpers import LOWER, ask, random_word
from meta_rfft.tasks.spec import RuleTask


def maximum_value(strs):
  best = 0
  for s in strs:
    if s.isdigit():
      value = int(s)
    else:
      value = len(s)
    best = max(best, value)
  return best


def sample(rng, length):
  alphabets = ["0123456789", "0123456789", LOWER + "0123456789"]
  return {"strs": [random_word(rng, rng.choice(alphabets), 1, 4) for _ in range(length)]}


def question(inst):
  return ask(
      "The value of an alphanumeric string is its numeric value in base 10 if it consists only of digits, "
      "and its length otherwise. Given an array strs of alphanumeric strings, return the maximum value of "
      "any string in strs.", inst)


def reference(inst):
  return max(int(s) if all(c in "0123456789" for c in s) else len(s) for s in inst["strs"])


TASK = RuleTask(
    id="lc_2496", name="Maximum Value of a String in an Array", source="leetcode", split="rf_pretrain",
    length_meaning="array length", rule=maximum_value, sample=sample, question=question, reference=reference)
