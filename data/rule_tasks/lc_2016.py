"""LeetCode 2016, Maximum Difference Between Increasing Elements. Length = array length (at least 2)."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def maximum_difference(nums):
  low = nums[0]
  best = -1
  for x in nums[1:]:
    if x > low:
      best = max(best, x - low)
    else:
      low = x
  return best


def sample(rng, length):
  nums = [rng.randint(1, 50) for _ in range(length)]
  if rng.random() < 0.25:
    nums.sort(reverse=True)  # no increasing pair: the answer is -1
  return {"nums": nums}


def question(inst):
  return ask(
      "Given a 0-indexed integer array nums, return the maximum value of nums[j] - nums[i] over indices "
      "i < j with nums[i] < nums[j], or -1 if no such pair exists.", inst)


def reference(inst):
  n = inst["nums"]
  return max([n[j] - n[i] for i in range(len(n)) for j in range(i + 1, len(n)) if n[i] < n[j]], default=-1)


TASK = RuleTask(
    id="lc_2016", name="Maximum Difference Between Increasing Elements", source="leetcode",
    split="rf_pretrain", length_meaning="array length", rule=maximum_difference, sample=sample,
    question=question, reference=reference, min_length=2)
