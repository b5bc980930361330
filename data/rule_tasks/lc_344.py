"""LeetCode 344, Reverse String. Length = string length (a list of characters, reversed in place)."""
from meta_rfft.tasks.lc_helpers import LOWER, ask
from meta_rfft.tasks.spec import RuleTask


def reverse_string(s):
  i = 0
  j = len(s) - 1
  while i < j:
    s[i], s[j] = s[j], s[i]
    i += 1
    j -= 1
  return s


def sample(rng, length):
  return {"s": [rng.choice(LOWER + LOWER.upper()) for _ in range(length)]}


def question(inst):
  return ask(
      "Write a function that reverses a string given as a list of characters s, in place with O(1) extra "
      "memory. Return the list after reversing.", inst)


def reference(inst):
  return list(reversed(inst["s"]))


TASK = RuleTask(
    id="lc_344", name="Reverse String", source="leetcode", split="rf_pretrain",
    length_meaning="string length", rule=reverse_string, sample=sample, question=question,
    reference=reference)
