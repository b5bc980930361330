"""LeetCode 2562, Find the Array Concatenation Value. Length = array length."""
import collections

from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def find_the_array_conc_val(nums):
  total = 0
  i = 0
  j = len(nums) - 1
  while i < j:
    total += int(str(nums[i]) + str(nums[j]))
    i += 1
    j -= 1
  if i == j:
    total += nums[i]
  return total


def sample(rng, length):
  return {"nums": [rng.randint(1, 99) for _ in range(length)]}


def question(inst):
  return ask(
      "You are given an integer array nums; the concatenation value starts at 0. While nums is not empty: "
      "if it has more than one element, add the number formed by writing the first element followed by the "
      "last one and delete both; otherwise add the single element and delete it. Return the concatenation "
      "value.", inst)


def reference(inst):
  rest, total = collections.deque(inst["nums"]), 0
  while rest:
    first = rest.popleft()
    total += first * 10 ** len(str(rest[-1])) + rest.pop() if rest else first
  return total


TASK = RuleTask(
    id="lc_2562", name="Find the Array Concatenation Value", source="leetcode", split="rf_pretrain",
    length_meaning="array length", rule=find_the_array_conc_val, sample=sample, question=question,
    reference=reference)
