"""LeetCode 796, Rotate String. Length = length of s."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def rotate_string(s, goal):
  if len(s) != len(goal):
    return False
  for i in range(len(s)):
    if s[i:] + s[:i] == goal:
      return True
  return False


def sample(rng, length):
  s = "".join(rng.choice("abc") for _ in range(length))
  shift = rng.randrange(length)
  goal = list(s[shift:] + s[:shift])
  kind = rng.random()
  if kind < 0.35:
    goal[rng.randrange(length)] = rng.choice("abc")
  elif kind < 0.45:
    rng.shuffle(goal)
  return {"s": s, "goal": "".join(goal)}


def question(inst):
  return ask(
      "Given two strings s and goal, return True if s can become goal after some number of shifts, where a "
      "shift moves the leftmost character of s to the rightmost position, and False otherwise.", inst)


def reference(inst):
  return len(inst["s"]) == len(inst["goal"]) and inst["goal"] in inst["s"] * 2


TASK = RuleTask(
    id="lc_796", name="Rotate String", source="leetcode", split="rf_pretrain", length_meaning="length of s",
    rule=rotate_string, sample=sample, question=question, reference=reference)
