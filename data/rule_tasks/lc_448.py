"""LeetCode 448, Find All Numbers Disappeared in an Array. Length = array length."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def find_disappeared(nums):
  seen = [False] * (len(nums) + 1)
  for x in nums:
    seen[x] = True
  res = []
  for i in range(1, len(nums) + 1):
    if not seen[i]:
      res.append(i)
  return res


def sample(rng, length):
  nums = list(range(1, length + 1))
  for _ in range(rng.randint(0, length // 2)):  # a few numbers are replaced by duplicates
    nums[rng.randrange(length)] = rng.randint(1, length)
  rng.shuffle(nums)
  return {"nums": nums}


def question(inst):
  return ask(
      "Given an array nums of n integers, each in the range [1, n], return an ascending list of all the "
      "integers in [1, n] that do not appear in nums.", inst)


def reference(inst):
  return sorted(set(range(1, len(inst["nums"]) + 1)) - set(inst["nums"]))


TASK = RuleTask(
    id="lc_448", name="Find All Numbers Disappeared in an Array", source="leetcode", split="rf_pretrain",
    length_meaning="array length", rule=find_disappeared, sample=sample, question=question,
    reference=reference)
