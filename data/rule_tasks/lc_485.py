"""LeetCode 485, Max Consecutive Ones. Length = array length."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def find_max_consecutive_ones(nums):
  best = 0
  cur = 0
  for x in nums:
    if x == 1:
      cur += 1
      best = max(best, cur)
    else:
      cur = 0
  return best


def sample(rng, length):
  p = rng.choice([0.5, 0.7, 0.85])
  return {"nums": [1 if rng.random() < p else 0 for _ in range(length)]}


def question(inst):
  return ask("Given a binary array nums, return the maximum number of consecutive 1s in the array.", inst)


def reference(inst):
  return max(len(run) for run in "".join(map(str, inst["nums"])).split("0"))


TASK = RuleTask(
    id="lc_485", name="Max Consecutive Ones", source="leetcode", split="rf_pretrain",
    length_meaning="array length", rule=find_max_consecutive_ones, sample=sample, question=question,
    reference=reference)
