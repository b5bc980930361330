"""LeetCode 2529, Maximum Count of Positive Integer and Negative Integer. Length = array length."""
import bisect

from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def maximum_count(nums):
  pos = 0
  neg = 0
  for x in nums:
    if x > 0:
      pos += 1
    elif x < 0:
      neg += 1
  return max(pos, neg)


def sample(rng, length):
  return {"nums": sorted(rng.randint(-9, 9) for _ in range(length))}


def question(inst):
  return ask(
      "Given an array nums sorted in non-decreasing order, return the maximum of the number of positive "
      "integers and the number of negative integers in it (0 is neither).", inst)


def reference(inst):
  nums = inst["nums"]
  return max(bisect.bisect_left(nums, 0), len(nums) - bisect.bisect_right(nums, 0))


TASK = RuleTask(
    id="lc_2529", name="Maximum Count of Positive Integer and Negative Integer", source="leetcode",
    split="rf_pretrain", length_meaning="array length", rule=maximum_count, sample=sample, question=question,
    reference=reference)
