"""LeetCode 258, Add Digits. Length = number of digits of num."""
from meta_rfft.tasks.question_text import with_instance
from meta_rfft.tasks.spec import RuleTask


def add_digits(num):
  while num > 9:
    total = 0
    for d in str(num):
      total += int(d)
    num = total
  return num


def sample(rng, length):
  lo = 0 if length == 1 else 10 ** (length - 1)
  return {"num": rng.randint(lo, 10 ** length - 1)}


def question(inst):
  return with_instance(
      "Given an integer num, repeatedly add all its digits until the result has only one digit, and "
      "return it.", inst)


def reference(inst):
  # The digital root has a closed form modulo 9.
  num = inst["num"]
  return 0 if num == 0 else 1 + (num - 1) % 9


TASK = RuleTask(
    id="lc_258", name="Add Digits", source="leetcode", split="heldout", length_meaning="number of digits",
    rule=add_digits, sample=sample, question=question, reference=reference)
