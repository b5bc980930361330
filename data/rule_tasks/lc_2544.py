"""LeetCode 2544, Alternate Digit Sum. Length = number of digits of n."""
from meta_rfft.tasks.question_text import with_instance
from meta_rfft.tasks.spec import RuleTask


def alternate_digit_sum(n):
  total = 0
  sign = 1
  for d in str(n):
    total += sign * int(d)
    sign = -sign
  return total


def sample(rng, length):
  return {"n": rng.randint(1 if length == 1 else 10 ** (length - 1), 10 ** length - 1)}


def question(inst):
  return with_instance(
      "Given a positive integer n, the most significant digit gets a positive sign and every other digit "
      "has the opposite sign of its neighbour to the left. Return the sum of all digits with their signs.",
      inst)


def reference(inst):
  # Walk the digits from the least significant end with arithmetic; the sign of the last digit depends on
  # the number of digits.
  n, digits = inst["n"], []
  while n:
    n, d = divmod(n, 10)
    digits.append(d)
  k = len(digits)
  return sum(d if (k - 1 - pos) % 2 == 0 else -d for pos, d in enumerate(digits))


TASK = RuleTask(
    id="lc_2544", name="Alternate Digit Sum", source="leetcode", split="heldout",
    length_meaning="number of digits", rule=alternate_digit_sum, sample=sample, question=question,
    reference=reference)
