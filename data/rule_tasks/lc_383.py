"""LeetCode 383, Ransom Note. Length = length of the magazine."""
import collections

from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def can_construct(ransom_note, magazine):
  count = {}
  for c in magazine:
    count[c] = count.get(c, 0) + 1
  for c in ransom_note:
    if count.get(c, 0) == 0:
      return False
    count[c] -= 1
  return True


def sample(rng, length):
  magazine = "".join(rng.choice("abcdefg") for _ in range(length))
  size = rng.randint(1, max(1, length // 2))
  if rng.random() < 0.5:
    note = "".join(rng.sample(magazine, size))  # built from the magazine: constructible
  else:
    note = "".join(rng.choice("abcdefgh") for _ in range(size))
  return {"ransom_note": note, "magazine": magazine}


def question(inst):
  return ask(
      "Given two strings ransom_note and magazine, return True if ransom_note can be constructed by using "
      "the letters from magazine, each letter of magazine used at most once, and False otherwise.", inst)


def reference(inst):
  return not collections.Counter(inst["ransom_note"]) - collections.Counter(inst["magazine"])


TASK = RuleTask(
    id="lc_383", name="Ransom Note", source="leetcode", split="rf_pretrain",
    length_meaning="length of magazine", rule=can_construct, sample=sample, question=question,
    reference=reference)
