"""Reverse List (Big-Bench-Hard style word list). Length = list length."""
from meta_rfft.tasks.question_text import with_instance
from meta_rfft.tasks.spec import RuleTask

_WORDS = ("apple", "river", "stone", "cloud", "lemon", "tiger", "piano", "chair", "mouse", "bread", "grass",
          "light", "ocean", "paper", "queen", "sugar", "train", "watch", "zebra", "honey")


def reverse_list(items):
  res = []
  i = len(items) - 1
  while i >= 0:
    res.append(items[i])
    i -= 1
  return res


def sample(rng, length):
  return {"items": [rng.choice(_WORDS) for _ in range(length)]}


def question(inst):
  return with_instance("Reverse the order of the words in the list items.", inst)


def reference(inst):
  return inst["items"][::-1]


TASK = RuleTask(
    id="bbh_reverse_list", name="Reverse List", source="bbh", split="rf_pretrain",
    length_meaning="list length", rule=reverse_list, sample=sample, question=question, reference=reference)
