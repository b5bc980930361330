"""LeetCode 2609, Longest Balanced Substring of a Binary String. Length = string length."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def find_longest_balanced(s):
  best = 0
  zeros = 0
  ones = 0
  for i, c in enumerate(s):
    if c == "0":
      if i > 0 and s[i - 1] == "1":
        zeros = 0
        ones = 0
      zeros += 1
    else:
      ones += 1
      best = max(best, 2 * min(zeros, ones))
  return best


def sample(rng, length):
  p = rng.choice([0.3, 0.5, 0.7])  # runs of zeros and ones of varied lengths
  return {"s": "".join("0" if rng.random() < p else "1" for _ in range(length))}


def question(inst):
  return ask(
      "You are given a binary string s. A substring is balanced if all its zeros come before its ones and "
      "it has as many zeros as ones (the empty substring is balanced). Return the length of the longest "
      "balanced substring of s.", inst)


def reference(inst):
  k = len(inst["s"]) // 2
  while k and "0" * k + "1" * k not in inst["s"]:
    k -= 1
  return 2 * k


TASK = RuleTask(
    id="lc_2609", name="Longest Balanced Substring of a Binary String", source="leetcode",
    split="rf_pretrain", length_meaning="string length", rule=find_longest_balanced, sample=sample,
    question=question, reference=reference)
