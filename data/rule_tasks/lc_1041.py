"""LeetCode 1041, Robot Bounded In Circle. Length = number of instructions."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def is_robot_bounded(instructions):
  x = 0
  y = 0
  dx = 0
  dy = 1
  for c in instructions:
    if c == "G":
      x += dx
      y += dy
    elif c == "L":
      dx, dy = -dy, dx
    else:
      dx, dy = dy, -dx
  return (x, y) == (0, 0) or (dx, dy) != (0, 1)


def sample(rng, length):
  return {"instructions": "".join(rng.choice("GGLR") for _ in range(length))}


def question(inst):
  return ask(
      "A robot stands at (0, 0) facing north. It follows the string instructions: 'G' goes 1 unit "
      "straight, 'L' turns 90 degrees left, 'R' turns 90 degrees right, and it repeats the instructions "
      "forever. Return True if there is a circle in the plane the robot never leaves, otherwise False.", inst)


def reference(inst):
  # After four repetitions a bounded robot is back at the origin.
  pos, heading = 0j, 1j
  for c in inst["instructions"] * 4:
    if c == "G":
      pos += heading
    else:
      heading *= 1j if c == "L" else -1j
  return pos == 0


TASK = RuleTask(
    id="lc_1041", name="Robot Bounded In Circle", source="leetcode", split="rf_pretrain",
    length_meaning="number of instructions", rule=is_robot_bounded, sample=sample, question=question,
    reference=reference)
