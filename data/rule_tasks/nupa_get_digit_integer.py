"""NUPA Get Digit Integer: the digit at a given position (from the left, starting at 1).

Length = number of digits of num.
"""
from meta_rfft.tasks.question_text import with_instance
from meta_rfft.tasks.spec import RuleTask


def get_digit(num, pos):
  count = 0
  for d in str(num):
    count += 1
    if count == pos:
      return int(d)
  return -1


def sample(rng, length):
  num = rng.randint(0 if length == 1 else 10 ** (length - 1), 10 ** length - 1)
  return {"num": num, "pos": rng.randint(1, length)}


def question(inst):
  return with_instance(
      "Return the digit of the integer num at position pos, counting positions from the left starting "
      "at 1.", inst)


def reference(inst):
  num, pos = inst["num"], inst["pos"]
  width = len(str(num))
  return num // 10 ** (width - pos) % 10


TASK = RuleTask(
    id="nupa_get_digit_integer", name="Get Digit Integer", source="nupa", split="heldout",
    length_meaning="number of digits", rule=get_digit, sample=sample, question=question,
    reference=reference)
