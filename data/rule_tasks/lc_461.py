"""LeetCode 461, Hamming Distance. Length = bit length of the larger number."""
from meta_rfft.tasks.question_text import with_instance
from meta_rfft.tasks.spec import RuleTask


def hamming_distance(x, y):
  dist = 0
  while x > 0 or y > 0:
    if x % 2 != y % 2:
      dist += 1
    x = x // 2
    y = y // 2
  return dist


def sample(rng, length):
  top = 1 << (length - 1)
  x = top | rng.getrandbits(length - 1) if length > 1 else 1
  y = rng.getrandbits(length)
  if rng.random() < 0.5:
    x, y = y, x
  return {"x": x, "y": y}


def question(inst):
  return with_instance(
      "The Hamming distance between two integers is the number of positions at which their binary digits "
      "differ. Return the Hamming distance between x and y.", inst)


def reference(inst):
  return bin(inst["x"] ^ inst["y"]).count("1")


TASK = RuleTask(
    id="lc_461", name="Hamming Distance", source="leetcode", split="heldout", length_meaning="bit length",
    rule=hamming_distance, sample=sample, question=question, reference=reference)
