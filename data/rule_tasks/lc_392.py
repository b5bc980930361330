"""LeetCode 392, Is Subsequence. Length = length of t."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def is_subsequence(s, t):
  i = 0
  for c in t:
    if i < len(s) and s[i] == c:
      i += 1
  return i == len(s)


def sample(rng, length):
  t = "".join(rng.choice("abcde") for _ in range(length))
  size = rng.randint(1, max(1, length // 2))
  if rng.random() < 0.5:
    s = "".join(t[i] for i in sorted(rng.sample(range(length), size)))
  else:
    s = "".join(rng.choice("abcde") for _ in range(size))
  return {"s": s, "t": t}


def question(inst):
  return ask(
      "Given two strings s and t, return True if s is a subsequence of t (it can be obtained by deleting "
      "some characters of t without changing the order of the rest), or False otherwise.", inst)


def reference(inst):
  rest = iter(inst["t"])
  return all(c in rest for c in inst["s"])  # `in` on an iterator consumes it up to the match


TASK = RuleTask(
    id="lc_392", name="Is Subsequence", source="leetcode", split="rf_pretrain", length_meaning="length of t",
    rule=is_subsequence, sample=sample, question=question, reference=reference)
