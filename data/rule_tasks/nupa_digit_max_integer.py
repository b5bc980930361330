"""NUPA Digit Max Integer: the digit-wise maximum of two integers of the same length.

Length = number of digits of each operand.
"""
from meta_rfft.tasks.question_text import with_instance
from meta_rfft.tasks.spec import RuleTask


def digit_max(a, b):
  x = str(a)
  y = str(b)
  res = ''
  for i in range(len(x)):
    if x[i] > y[i]:
      res += x[i]
    else:
      res += y[i]
  return int(res)


def _number(rng, digits):
  return rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10 ** digits - 1)


def sample(rng, length):
  return {"a": _number(rng, length), "b": _number(rng, length)}


def question(inst):
  return with_instance(
      "The integers a and b have the same number of digits. Return the integer whose every digit is the "
      "larger of the digits of a and b at the same position.", inst)


def reference(inst):
  a, b, out, scale = inst["a"], inst["b"], 0, 1
  while a or b:
    out += max(a % 10, b % 10) * scale
    a, b, scale = a // 10, b // 10, scale * 10
  return out


TASK = RuleTask(
    id="nupa_digit_max_integer", name="Digit Max Integer", source="nupa", split="heldout",
    length_meaning="number of digits", rule=digit_max, sample=sample, question=question,
    reference=reference)
