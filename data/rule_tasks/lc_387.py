"""LeetCode 387, First Unique Character in a String. Length = string length."""
from meta_rfft.tasks.lc_helpers import LOWER, ask
from meta_rfft.tasks.spec import RuleTask


def first_uniq_char(s):
  count = {}
  for c in s:
    count[c] = count.get(c, 0) + 1
  for i, c in enumerate(s):
    if count[c] == 1:
      return i
  return -1


def sample(rng, length):
  alphabet = LOWER[:max(1, length // 2 + rng.randint(-1, 2))]  # some letters repeat, some may not
  return {"s": "".join(rng.choice(alphabet) for _ in range(length))}


def question(inst):
  return ask(
      "Given a string s, find the first non-repeating character in it and return its index. If it does not "
      "exist, return -1.", inst)


def reference(inst):
  s = inst["s"]
  return next((i for i, c in enumerate(s) if s.count(c) == 1), -1)


TASK = RuleTask(
    id="lc_387", name="First Unique Character in a String", source="leetcode", split="rf_pretrain",
    length_meaning="string length", rule=first_uniq_char, sample=sample, question=question,
    reference=reference)
