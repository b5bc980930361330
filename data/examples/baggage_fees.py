"""Airline checked-baggage fees, the kind of business rule the paper adapts Meta-RFFT to.

Length = number of bags.

A user task: not under data/rule_tasks/ (which every run loads), but named where it is wanted, e.g.
`--config.data.user_tasks=data/examples/baggage_fees.py` (meta_rfft/tasks/user_tasks.py).

The fee schedule: the first bag costs 35, the second 45, every further bag 150; a bag over 23 kg costs 100
more, and a bag over 32 kg 200 more instead.
"""
from meta_rfft.tasks.question_text import with_instance
from meta_rfft.tasks.spec import RuleTask

BASE_FEES = (35, 45)  # the first and second bag; every later bag costs LATER_BAG_FEE
LATER_BAG_FEE = 150
SURCHARGES = ((32, 200), (23, 100))  # (over this many kg, surcharge), heaviest first


def baggage_fees(weights):
  total = 0
  for i, w in enumerate(weights):
    if i == 0:
      fee = 35
    elif i == 1:
      fee = 45
    else:
      fee = 150
    if w > 32:
      fee += 200
    elif w > 23:
      fee += 100
    total += fee
  return total


def sample(rng, length):
  # Weights cluster around the 23 and 32 kg limits, so that both surcharges and the limits themselves occur.
  bands = ((8, 22), (22, 25), (31, 34), (8, 40))
  return {"weights": [rng.randint(*rng.choice(bands)) for _ in range(length)]}


def question(inst):
  return with_instance(
      "An airline charges for checked bags in the order they are checked in: the first bag costs 35 dollars, "
      "the second 45 and every further bag 150. A bag heavier than 23 kg costs 100 dollars more, and a bag "
      "heavier than 32 kg 200 dollars more instead. What is the total fee for these bags (weights in kg)?",
      inst)


def reference(inst):
  weights = inst["weights"]
  base = sum(BASE_FEES[:len(weights)]) + LATER_BAG_FEE * max(0, len(weights) - len(BASE_FEES))
  surcharge = sum(next((fee for limit, fee in SURCHARGES if w > limit), 0) for w in weights)
  return base + surcharge


TASK = RuleTask(
    id="baggage_fees", name="Airline Baggage Fees", source="symbolic", split="heldout",
    length_meaning="number of bags", rule=baggage_fees, sample=sample, question=question, reference=reference)
