"""LeetCode 2404, Most Frequent Even Element. Length = array length."""
import collections

from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def most_frequent_even(nums):
  count = {}
  for x in nums:
    if x % 2 == 0:
      count[x] = count.get(x, 0) + 1
  best = -1
  for x, c in count.items():
    if best == -1 or c > count[best] or (c == count[best] and x < best):
      best = x
  return best


def sample(rng, length):
  if rng.random() < 0.15:
    return {"nums": [rng.randrange(1, 20, 2) for _ in range(length)]}  # no even number: -1
  return {"nums": [rng.randint(0, 12) for _ in range(length)]}


def question(inst):
  return ask(
      "Given an integer array nums, return the most frequent even element. If there is a tie, return the "
      "smallest one. If there is no even element, return -1.", inst)


def reference(inst):
  evens = collections.Counter(x for x in inst["nums"] if x % 2 == 0)
  return min(evens, key=lambda x: (-evens[x], x)) if evens else -1


TASK = RuleTask(
    id="lc_2404", name="Most Frequent Even Element", source="leetcode", split="rf_pretrain",
    length_meaning="array length", rule=most_frequent_even, sample=sample, question=question,
    reference=reference)
