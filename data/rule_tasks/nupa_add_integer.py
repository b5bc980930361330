"""NUPA Add Integer: digit-by-digit addition with carry. Length = digits of the longer operand."""
from meta_rfft.tasks.question_text import with_instance
from meta_rfft.tasks.spec import RuleTask


def add(a, b):
  x = str(a)
  y = str(b)
  i = len(x) - 1
  j = len(y) - 1
  carry = 0
  res = ''
  while i >= 0 or j >= 0 or carry > 0:
    s = carry
    if i >= 0:
      s += int(x[i])
      i -= 1
    if j >= 0:
      s += int(y[j])
      j -= 1
    res = str(s % 10) + res
    carry = s // 10
  return int(res)


def _number(rng, digits):
  return rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10 ** digits - 1)


def sample(rng, length):
  # One operand has exactly `length` digits, the other 1..length, in random order.
  a, b = _number(rng, length), _number(rng, rng.randint(1, length))
  if rng.random() < 0.5:
    a, b = b, a
  return {"a": a, "b": b}


def question(inst):
  return with_instance("Add the two non-negative integers a and b.", inst)


def reference(inst):
  return inst["a"] + inst["b"]


TASK = RuleTask(
    id="nupa_add_integer", name="Add Integer", source="nupa", split="heldout",
    length_meaning="digits of the longer operand", rule=add, sample=sample, question=question,
    reference=reference)
