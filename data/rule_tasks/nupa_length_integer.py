"""NUPA Length Integer: the number of digits of a positive integer. Length = number of digits."""
from meta_rfft.tasks.question_text import with_instance
from meta_rfft.tasks.spec import RuleTask


def count_digits(num):
  count = 0
  while num > 0:
    num = num // 10
    count += 1
  return count


def sample(rng, length):
  return {"num": rng.randint(10 ** (length - 1), 10 ** length - 1)}


def question(inst):
  return with_instance("Return the number of digits of the positive integer num.", inst)


def reference(inst):
  return len(str(inst["num"]))


TASK = RuleTask(
    id="nupa_length_integer", name="Length Integer", source="nupa", split="heldout",
    length_meaning="number of digits", rule=count_digits, sample=sample, question=question,
    reference=reference)
