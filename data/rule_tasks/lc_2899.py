"""LeetCode 2899, Last Visited Integers. Length = array length."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def last_visited_integers(nums):
  seen = []
  ans = []
  k = 0
  for x in nums:
    if x != -1:
      seen.insert(0, x)
      k = 0
    else:
      k += 1
      if k <= len(seen):
        ans.append(seen[k - 1])
      else:
        ans.append(-1)
  return ans


def sample(rng, length):
  return {"nums": [-1 if rng.random() < 0.45 else rng.randint(1, 20) for _ in range(length)]}


def question(inst):
  return ask(
      "You are given an array nums where each element is a positive integer or -1. Scan it from the start. "
      "For each -1, let k be the number of consecutive -1s seen so far including this one, and let seen be "
      "the positive integers met so far in reverse order; append seen[k - 1] to ans if k <= len(seen), "
      "otherwise -1. Return ans.", inst)


def reference(inst):
  nums = inst["nums"]
  out = []
  for i, x in enumerate(nums):
    if x == -1:
      run = 1
      while i - run >= 0 and nums[i - run] == -1:
        run += 1
      positives = [y for y in nums[:i] if y != -1]
      out.append(positives[-run] if run <= len(positives) else -1)
  return out


TASK = RuleTask(
    id="lc_2899", name="Last Visited Integers", source="leetcode", split="rf_pretrain",
    length_meaning="array length", rule=last_visited_integers, sample=sample, question=question,
    reference=reference)
