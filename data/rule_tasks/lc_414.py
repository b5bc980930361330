"""LeetCode 414, Third Maximum Number. Length = array length."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def third_max(nums):
  top = []
  for x in nums:
    if x in top:
      continue
    top.append(x)
    top = sorted(top, reverse=True)[:3]
  return top[2] if len(top) == 3 else top[0]


def sample(rng, length):
  return {"nums": [rng.randint(-5, 5 + length) for _ in range(length)]}


def question(inst):
  return ask(
      "Given an integer array nums, return the third distinct maximum number in it. If it does not exist, "
      "return the maximum number.", inst)


def reference(inst):
  values = sorted(set(inst["nums"]))
  return values[-3] if len(values) >= 3 else values[-1]


TASK = RuleTask(
    id="lc_414", name="Third Maximum Number", source="leetcode", split="rf_pretrain",
    length_meaning="array length", rule=third_max, sample=sample, question=question, reference=reference)
