"""LeetCode 551, Student Attendance Record I. Length = string length."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def check_record(s):
  absent = 0
  late = 0
  for c in s:
    if c == "A":
      absent += 1
    if c == "L":
      late += 1
    else:
      late = 0
    if absent >= 2 or late >= 3:
      return False
  return True


def sample(rng, length):
  chars = [rng.choice("PPPLL") for _ in range(length)]
  for i in rng.sample(range(length), min(length, rng.choice([0, 1, 1, 2]))):
    chars[i] = "A"
  return {"s": "".join(chars)}


def question(inst):
  return ask(
      "A student's attendance record is a string s of 'A' (absent), 'L' (late) and 'P' (present). The "
      "student is eligible for an award if they were absent fewer than 2 days in total and were never late "
      "3 or more consecutive days. Return True if the student is eligible, otherwise False.", inst)


def reference(inst):
  return inst["s"].count("A") < 2 and "LLL" not in inst["s"]


TASK = RuleTask(
    id="lc_551", name="Student Attendance Record I", source="leetcode", split="rf_pretrain",
    length_meaning="string length", rule=check_record, sample=sample, question=question, reference=reference)
