"""LeetCode 2390, Removing Stars From a String. Length = string length."""
from meta_rfft.tasks.lc_helpers import LOWER, ask
from meta_rfft.tasks.spec import RuleTask


def remove_stars(s):
  stack = []
  for c in s:
    if c == "*":
      stack.pop()
    else:
      stack.append(c)
  return "".join(stack)


def sample(rng, length):
  chars, letters = [], 0
  for _ in range(length):
    if letters and rng.random() < 0.35:  # a star always has a letter to remove
      chars.append("*")
      letters -= 1
    else:
      chars.append(rng.choice(LOWER))
      letters += 1
  return {"s": "".join(chars)}


def question(inst):
  return ask(
      "You are given a string s of lowercase letters and stars '*'. In one operation, choose a star and "
      "remove it together with the closest non-star character to its left. Return the string after all "
      "stars have been removed.", inst)


def reference(inst):
  s = inst["s"]
  while "*" in s:
    i = s.index("*")
    s = s[:i - 1] + s[i + 1:]
  return s


TASK = RuleTask(
    id="lc_2390", name="Removing Stars From a String", source="leetcode", split="rf_pretrain",
    length_meaning="string length", rule=remove_stars, sample=sample, question=question, reference=reference)
