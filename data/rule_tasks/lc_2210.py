"""LeetCode 2210, Count Hills and Valleys in an Array. Length = array length (at least 3)."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def count_hill_valley(nums):
  count = 0
  left = nums[0]
  for i in range(1, len(nums) - 1):
    if nums[i] == nums[i + 1]:
      continue
    if (left < nums[i] > nums[i + 1]) or (left > nums[i] < nums[i + 1]):
      count += 1
    left = nums[i]
  return count


def sample(rng, length):
  # Few distinct values so that equal neighbours (plateaus) are common.
  return {"nums": [rng.randint(1, 6) for _ in range(length)]}


def question(inst):
  return ask(
      "You are given an integer array nums. An index is part of a hill (valley) if its closest non-equal "
      "neighbours on both sides are smaller (larger); adjacent equal indices belong to the same hill or "
      "valley. Return the number of hills and valleys in nums.", inst)


def reference(inst):
  flat = []
  for x in inst["nums"]:
    if not flat or flat[-1] != x:
      flat.append(x)
  return sum(1 for a, b, c in zip(flat, flat[1:], flat[2:]) if (b - a) * (b - c) > 0)


TASK = RuleTask(
    id="lc_2210", name="Count Hills and Valleys in an Array", source="leetcode", split="rf_pretrain",
    length_meaning="array length", rule=count_hill_valley, sample=sample, question=question,
    reference=reference, min_length=3)
