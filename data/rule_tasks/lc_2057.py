"""LeetCode 2057, Smallest Index With Equal Value. Length = array length."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def smallest_equal(nums):
  for i, x in enumerate(nums):
    if i % 10 == x:
      return i
  return -1


def sample(rng, length):
  nums = [rng.randint(0, 9) for _ in range(length)]
  if rng.random() < 0.5:
    # Half of the instances have no matching index, so that -1 is a common answer too.
    nums = [x if x != i % 10 else (x + rng.randint(1, 9)) % 10 for i, x in enumerate(nums)]
  return {"nums": nums}


def question(inst):
  return ask(
      "Given a 0-indexed integer array nums of digits, return the smallest index i such that i mod 10 == "
      "nums[i], or -1 if there is no such index.", inst)


def reference(inst):
  return next((i for i in range(len(inst["nums"])) if inst["nums"][i] == i % 10), -1)


TASK = RuleTask(
    id="lc_2057", name="Smallest Index With Equal Value", source="leetcode", split="rf_pretrain",
    length_meaning="array length", rule=smallest_equal, sample=sample, question=question, reference=reference)
