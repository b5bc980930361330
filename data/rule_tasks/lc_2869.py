"""LeetCode 2869, Minimum Operations to Collect Elements. Length = number of distinct values in nums."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def min_operations(nums, k):
  need = k
  seen = [False] * (k + 1)
  ops = 0
  for x in reversed(nums):
    ops += 1
    if x <= k and not seen[x]:
      seen[x] = True
      need -= 1
      if need == 0:
        return ops
  return ops


def sample(rng, length):
  nums = list(range(1, length + 1)) + [rng.randint(1, length) for _ in range(rng.randint(0, length // 2))]
  rng.shuffle(nums)
  return {"nums": nums, "k": rng.randint(1, length)}


def question(inst):
  return ask(
      "You are given an array nums of positive integers and an integer k. In one operation you remove the "
      "last element of the array and add it to your collection. Return the minimum number of operations "
      "needed to collect the elements 1, 2, ..., k.", inst)


def reference(inst):
  nums, goal = inst["nums"], set(range(1, inst["k"] + 1))
  return next(ops for ops in range(1, len(nums) + 1) if goal <= set(nums[len(nums) - ops:]))


TASK = RuleTask(
    id="lc_2869", name="Minimum Operations to Collect Elements", source="leetcode", split="rf_pretrain",
    length_meaning="number of distinct values", rule=min_operations, sample=sample, question=question,
    reference=reference)
