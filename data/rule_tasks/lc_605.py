"""LeetCode 605, Can Place Flowers. Length = array length (the flowerbed)."""
import itertools

from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def can_place_flowers(flowerbed, n):
  bed = [0] + flowerbed + [0]
  for i in range(1, len(bed) - 1):
    if bed[i - 1] == 0 and bed[i] == 0 and bed[i + 1] == 0:
      bed[i] = 1
      n -= 1
  return n <= 0


def _capacity(bed):
  # A run of z empty plots holds (z - 1) // 2 flowers; the two edges count as extra empty plots.
  runs = [len(list(g)) for k, g in itertools.groupby([0] + bed + [0]) if k == 0]
  return sum((z - 1) // 2 for z in runs)


def sample(rng, length):
  bed = []
  for _ in range(length):
    bed.append(1 if (not bed or bed[-1] == 0) and rng.random() < 0.3 else 0)
  cap = _capacity(bed)
  return {"flowerbed": bed, "n": max(0, cap + rng.choice([-1, 0, 1, 1]))}


def question(inst):
  return ask(
      "A flowerbed is an array of 0s (empty) and 1s (planted), and flowers cannot be planted in adjacent "
      "plots. Given flowerbed (with no adjacent flowers) and an integer n, return True if n new flowers can "
      "be planted without breaking the rule, otherwise False.", inst)


def reference(inst):
  return inst["n"] <= _capacity(inst["flowerbed"])


TASK = RuleTask(
    id="lc_605", name="Can Place Flowers", source="leetcode", split="rf_pretrain",
    length_meaning="array length", rule=can_place_flowers, sample=sample, question=question,
    reference=reference)
