"""LeetCode 2460, Apply Operations to an Array. Length = array length (at least 2)."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def apply_operations(nums):
  for i in range(len(nums) - 1):
    if nums[i] == nums[i + 1]:
      nums[i] *= 2
      nums[i + 1] = 0
  res = []
  for x in nums:
    if x != 0:
      res.append(x)
  return res + [0] * (len(nums) - len(res))


def sample(rng, length):
  return {"nums": [rng.randint(0, 4) for _ in range(length)]}


def question(inst):
  return ask(
      "You are given an array nums of non-negative integers. For i = 0, 1, ..., n - 2 in order: if "
      "nums[i] == nums[i + 1], multiply nums[i] by 2 and set nums[i + 1] to 0. Then shift all the 0s to the "
      "end of the array, keeping the order of the other numbers. Return the resulting array.", inst)


def reference(inst):
  nums = list(inst["nums"])
  for i, (a, b) in enumerate(zip(nums, nums[1:])):
    if nums[i] == nums[i + 1]:
      nums[i], nums[i + 1] = 2 * nums[i], 0
  return sorted(nums, key=lambda x: x == 0)  # sorted is stable: non-zeros keep their order


TASK = RuleTask(
    id="lc_2460", name="Apply Operations to an Array", source="leetcode", split="rf_pretrain",
    length_meaning="array length", rule=apply_operations, sample=sample, question=question,
    reference=reference, min_length=2)
