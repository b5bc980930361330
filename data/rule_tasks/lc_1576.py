"""LeetCode 1576, Replace All ?'s to Avoid Consecutive Repeating Characters. Length = string length.

Any valid answer is accepted on LeetCode; this rule (and the reference) pick the first of "abc" that
differs from both neighbours, which makes the answer unique.
"""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def modify_string(s):
  res = ""
  for i, c in enumerate(s):
    if c == "?":
      after = s[i + 1:i + 2]
      for d in "abc":
        if d != after and d != res[-1:]:
          c = d
          break
    res += c
  return res


def sample(rng, length):
  chars = []
  for _ in range(length):
    if rng.random() < 0.4:
      chars.append("?")
    else:  # the input itself has no two equal adjacent letters
      chars.append(rng.choice([c for c in "abcd" if not chars or c != chars[-1]]))
  return {"s": "".join(chars)}


def question(inst):
  return ask(
      "Given a string s of lowercase letters and '?', replace every '?' with a lowercase letter so that no "
      "two adjacent characters are equal; for each '?' from left to right, use the first of 'a', 'b', 'c' "
      "that differs from both of its neighbours. Return the final string.", inst)


def reference(inst):
  chars = list(inst["s"])
  for i, c in enumerate(chars):
    if c == "?":
      taken = set(chars[max(i - 1, 0):i]) | set(chars[i + 1:i + 2])
      chars[i] = min(set("abc") - taken)
  return "".join(chars)


TASK = RuleTask(
    id="lc_1576", name="Replace All ?'s to Avoid Consecutive Repeating Characters", source="leetcode",
    split="rf_pretrain", length_meaning="string length", rule=modify_string, sample=sample, question=question,
    reference=reference)
