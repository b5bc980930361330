"""LeetCode 228, Summary Ranges. Length = array length (distinct sorted values)."""
import itertools

from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def summary_ranges(nums):
  res = []
  start = 0
  for i in range(len(nums)):
    if i + 1 == len(nums) or nums[i + 1] != nums[i] + 1:
      if start == i:
        res.append(str(nums[start]))
      else:
        res.append(str(nums[start]) + "->" + str(nums[i]))
      start = i + 1
  return res


def sample(rng, length):
  nums = [rng.randint(-10, 10)]
  for _ in range(length - 1):
    nums.append(nums[-1] + (1 if rng.random() < 0.6 else rng.randint(2, 5)))
  return {"nums": nums}


def question(inst):
  return ask(
      "You are given a sorted array nums of distinct integers. Return the smallest sorted list of ranges "
      "that covers all the numbers exactly: each range [a, b] is written \"a->b\" if a != b and \"a\" if "
      "a == b.", inst)


def reference(inst):
  out = []
  for _, group in itertools.groupby(enumerate(inst["nums"]), key=lambda p: p[1] - p[0]):
    values = [v for _, v in group]
    out.append(f"{values[0]}->{values[-1]}" if len(values) > 1 else f"{values[0]}")
  return out


TASK = RuleTask(
    id="lc_228", name="Summary Ranges", source="leetcode", split="rf_pretrain",
    length_meaning="array length (duplicates removed)", rule=summary_ranges, sample=sample, question=question,
    reference=reference)
