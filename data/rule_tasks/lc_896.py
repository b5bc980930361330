"""LeetCode 896, Monotonic Array. Length = array length."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def is_monotonic(nums):
  inc = True
  dec = True
  for i in range(1, len(nums)):
    if nums[i] > nums[i - 1]:
      dec = False
    if nums[i] < nums[i - 1]:
      inc = False
  return inc or dec


def sample(rng, length):
  nums = [rng.randint(0, 9) for _ in range(length)]
  kind = rng.randrange(3)
  if kind < 2:
    nums.sort(reverse=kind == 1)
    if rng.random() < 0.3:  # one swap often breaks monotonicity
      i, j = rng.randrange(length), rng.randrange(length)
      nums[i], nums[j] = nums[j], nums[i]
  return {"nums": nums}


def question(inst):
  return ask(
      "An array is monotonic if it is either monotone increasing or monotone decreasing. Given an integer "
      "array nums, return True if it is monotonic, or False otherwise.", inst)


def reference(inst):
  n = inst["nums"]
  return n == sorted(n) or n == sorted(n, reverse=True)


TASK = RuleTask(
    id="lc_896", name="Monotonic Array", source="leetcode", split="rf_pretrain",
    length_meaning="array length", rule=is_monotonic, sample=sample, question=question, reference=reference)
