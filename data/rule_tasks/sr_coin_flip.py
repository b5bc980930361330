"""Symbolic reasoning Coin Flip: is the coin still heads up after people flip it or not?

Length = number of people.
"""
from meta_rfft.tasks.question_text import with_instance
from meta_rfft.tasks.spec import RuleTask

_NAMES = ("Alice", "Bob", "Carol", "Dan", "Eve", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Ken", "Liam",
          "Mia", "Nina", "Omar", "Pia")


def coin_flip(flips):
  heads = True
  for name, flipped in flips:
    if flipped:
      heads = not heads
  return heads


def sample(rng, length):
  return {"flips": [(rng.choice(_NAMES), rng.random() < 0.5) for _ in range(length)]}


def question(inst):
  said = " ".join(f"{name} {'flips' if f else 'does not flip'} the coin." for name, f in inst["flips"])
  return with_instance(f"A coin is heads up. {said} Is the coin still heads up? Answer True or False.", inst)


def reference(inst):
  return sum(f for _, f in inst["flips"]) % 2 == 0


TASK = RuleTask(
    id="sr_coin_flip", name="Coin Flip", source="symbolic", split="rf_pretrain",
    length_meaning="number of people", rule=coin_flip, sample=sample, question=question, reference=reference)
