"""LeetCode 283, Move Zeroes. Length = list length."""
from meta_rfft.tasks.question_text import with_instance
from meta_rfft.tasks.spec import RuleTask


def move_zeroes(nums):
  pos = 0
  for i in range(len(nums)):
    if nums[i] != 0:
      nums[pos], nums[i] = nums[i], nums[pos]
      pos += 1
  return nums


def sample(rng, length):
  # About 40% zeros, so that every instance moves something and keeps some order to preserve.
  return {"nums": [0 if rng.random() < 0.4 else rng.randint(1, 20) for _ in range(length)]}


def question(inst):
  return with_instance(
      "Given an integer list nums, move all 0's to the end of it while keeping the relative order of the "
      "non-zero elements, and return the list.", inst)


def reference(inst):
  nums = inst["nums"]
  return [x for x in nums if x != 0] + [0] * nums.count(0)


TASK = RuleTask(
    id="lc_283", name="Move Zeros", source="leetcode", split="heldout", length_meaning="list length",
    rule=move_zeroes, sample=sample, question=question, reference=reference)
