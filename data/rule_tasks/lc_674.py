"""LeetCode 674, Longest Continuous Increasing Subsequence. Length = array length."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def find_length_of_lcis(nums):
  best = 1
  cur = 1
  for i in range(1, len(nums)):
    if nums[i] > nums[i - 1]:
      cur += 1
      best = max(best, cur)
    else:
      cur = 1
  return best


def sample(rng, length):
  nums = [rng.randint(0, 9)]
  for _ in range(length - 1):  # rising more often than falling: longer increasing runs
    nums.append(nums[-1] + rng.randint(-6, 4))
  return {"nums": nums}


def question(inst):
  return ask(
      "Given an unsorted array of integers nums, return the length of the longest continuous strictly "
      "increasing subarray.", inst)


def reference(inst):
  n = inst["nums"]
  best = 0
  for i in range(len(n)):
    j = i
    while j + 1 < len(n) and n[j + 1] > n[j]:
      j += 1
    best = max(best, j - i + 1)
  return best


TASK = RuleTask(
    id="lc_674", name="Longest Continuous Increasing Subsequence", source="leetcode", split="rf_pretrain",
    length_meaning="array length", rule=find_length_of_lcis, sample=sample, question=question,
    reference=reference)
