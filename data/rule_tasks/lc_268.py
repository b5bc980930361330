"""LeetCode 268, Missing Number. Length = n + 1, the count of candidate numbers 0..n (so n >= 1)."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def missing_number(nums):
  total = len(nums) * (len(nums) + 1) // 2
  for x in nums:
    total -= x
  return total


def sample(rng, length):
  nums = list(range(length))
  nums.remove(rng.randrange(length))
  rng.shuffle(nums)
  return {"nums": nums}


def question(inst):
  return ask(
      "Given an array nums containing n distinct numbers in the range [0, n], return the only number in the "
      "range that is missing from the array.", inst)


def reference(inst):
  return (set(range(len(inst["nums"]) + 1)) - set(inst["nums"])).pop()


TASK = RuleTask(
    id="lc_268", name="Missing Number", source="leetcode", split="rf_pretrain", length_meaning="n + 1",
    rule=missing_number, sample=sample, question=question, reference=reference, min_length=2)
