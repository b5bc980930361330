"""LeetCode 2833, Furthest Point From Origin. Length = number of moves."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def furthest_distance(moves):
  left = 0
  right = 0
  blank = 0
  for m in moves:
    if m == "L":
      left += 1
    elif m == "R":
      right += 1
    else:
      blank += 1
  return abs(left - right) + blank


def sample(rng, length):
  return {"moves": "".join(rng.choice("LR_") for _ in range(length))}


def question(inst):
  return ask(
      "You start at 0 on a number line and are given a string moves of 'L', 'R' and '_'. The i-th move goes "
      "left for 'L', right for 'R', and either way for '_'. Return the distance from the origin of the "
      "furthest point you can reach after all moves.", inst)


def reference(inst):
  moves = inst["moves"]
  return max(abs(moves.replace("_", d).count("R") - moves.replace("_", d).count("L")) for d in "LR")


TASK = RuleTask(
    id="lc_2833", name="Furthest Point From Origin", source="leetcode", split="rf_pretrain",
    length_meaning="number of moves", rule=furthest_distance, sample=sample, question=question,
    reference=reference)
