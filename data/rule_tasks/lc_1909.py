"""LeetCode 1909, Remove One Element to Make the Array Strictly Increasing. Length = array length (>= 2)."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def can_be_increasing(nums):
  removed = 0
  for i in range(1, len(nums)):
    if nums[i] <= nums[i - 1]:
      removed += 1
      if removed > 1:
        return False
      if i > 1 and nums[i] <= nums[i - 2]:
        nums[i] = nums[i - 1]
  return True


def sample(rng, length):
  nums = sorted(rng.sample(range(1, 4 * length + 10), length))
  for _ in range(rng.choice([1, 1, 2])):  # one or two disturbances: both answers are common
    nums[rng.randrange(length)] = rng.randint(1, 4 * length + 10)
  return {"nums": nums}


def question(inst):
  return ask(
      "Given a 0-indexed integer array nums, return True if it can be made strictly increasing after "
      "removing exactly one element, or False otherwise.", inst)


def reference(inst):
  nums = inst["nums"]
  rests = (nums[:i] + nums[i + 1:] for i in range(len(nums)))
  return any(all(a < b for a, b in zip(r, r[1:])) for r in rests)


TASK = RuleTask(
    id="lc_1909", name="Remove One Element to Make the Array Strictly Increasing", source="leetcode",
    split="rf_pretrain", length_meaning="array length", rule=can_be_increasing, sample=sample,
    question=question, reference=reference, min_length=2)
