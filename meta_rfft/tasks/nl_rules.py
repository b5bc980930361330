"""Natural-language rules for the 12 held-out tasks: numbered English steps (the paper uses them only for
adaptation, so the RF-pretraining tasks have none).

Convention (what lets the `rf_nl` trace recite the step it executes, see nl_format.py): step k is the English
version of the k-th statement line of the task's code rule, in source order (`else:` lines are not
statements, so the first step of an else-branch starts with "Otherwise"). Indentation shows nesting, as in
the code. The held-out task modules belong to the task machinery; their English rules live here, keyed by
task id, and `with_nl_rule(task)` returns the task with its `nl_rule` field filled.
"""
from __future__ import annotations

import dataclasses

from meta_rfft.tasks.spec import RuleTask

# One entry per statement line of the rule, in source order; two leading spaces per nesting level.
_STEPS: dict[str, tuple[str, ...]] = {
    "lc_258": (
        "While num is greater than 9:",
        "  Set total to 0.",
        "  For each digit d of num, from left to right:",
        "    Add the digit d to total.",
        "  Set num to total.",
        "Return num.",
    ),
    "lc_283": (
        "Set pos to 0.",
        "For each index i of nums, from 0 to the last index:",
        "  If nums[i] is not 0:",
        "    Swap nums[pos] and nums[i].",
        "    Add 1 to pos.",
        "Return nums.",
    ),
    "lc_125": (
        "Set i to 0.",
        "Set j to the last index of s (the length of s minus 1).",
        "While i is less than j:",
        "  If s[i] and s[j] differ when both are written in lowercase:",
        "    Return False.",
        "  Add 1 to i.",
        "  Subtract 1 from j.",
        "Return True.",
    ),
    "lc_2544": (
        "Set total to 0.",
        "Set sign to 1.",
        "For each digit d of n, from left to right:",
        "  Add sign times the digit d to total.",
        "  Flip sign: 1 becomes -1 and -1 becomes 1.",
        "Return total.",
    ),
    "lc_1598": (
        "Set depth to 0.",
        "For each operation op in logs, in order:",
        "  If op is '../':",
        "    If depth is greater than 0:",
        "      Subtract 1 from depth.",
        "  Otherwise, if op is './':",
        "    Go on to the next operation.",
        "  Otherwise, add 1 to depth.",
        "Return depth.",
    ),
    "lc_3324": (
        "Set ans to an empty list.",
        "Set cur to the empty string.",
        "For each character ch of target, in order:",
        "  Append the letter 'a' to cur.",
        "  Append cur to ans.",
        "  While the last letter of cur is not ch:",
        "    Replace the last letter of cur by the next letter of the alphabet.",
        "    Append cur to ans.",
        "Return ans.",
    ),
    "lc_2677": (
        "Set res to an empty list.",
        "Set cur to an empty list.",
        "For each element x of arr, in order:",
        "  Append x to cur.",
        "  If cur has exactly size elements:",
        "    Append cur to res.",
        "    Set cur to a new empty list.",
        "If cur is not empty:",
        "  Append cur to res.",
        "Return res.",
    ),
    "lc_461": (
        "Set dist to 0.",
        "While x is greater than 0 or y is greater than 0:",
        "  If the lowest bits of x and y differ (x mod 2 is not y mod 2):",
        "    Add 1 to dist.",
        "  Divide x by 2, rounding down.",
        "  Divide y by 2, rounding down.",
        "Return dist.",
    ),
    "nupa_get_digit_integer": (
        "Set count to 0.",
        "For each digit d of num, from left to right:",
        "  Add 1 to count.",
        "  If count equals pos:",
        "    Return the digit d as an integer.",
        "Return -1.",
    ),
    "nupa_add_integer": (
        "Write a as a string of digits x.",
        "Write b as a string of digits y.",
        "Set i to the last index of x.",
        "Set j to the last index of y.",
        "Set carry to 0.",
        "Set res to the empty string.",
        "While i is at least 0, or j is at least 0, or carry is greater than 0:",
        "  Set s to carry.",
        "  If i is at least 0:",
        "    Add the digit x[i] to s.",
        "    Subtract 1 from i.",
        "  If j is at least 0:",
        "    Add the digit y[j] to s.",
        "    Subtract 1 from j.",
        "  Put the last digit of s (s mod 10) in front of res.",
        "  Set carry to s divided by 10, rounding down.",
        "Return res as an integer.",
    ),
    "nupa_digit_max_integer": (
        "Write a as a string of digits x.",
        "Write b as a string of digits y.",
        "Set res to the empty string.",
        "For each position i of x, from left to right:",
        "  If the digit x[i] is greater than the digit y[i]:",
        "    Append x[i] to res.",
        "  Otherwise, append y[i] to res.",
        "Return res as an integer.",
    ),
    "nupa_length_integer": (
        "Set count to 0.",
        "While num is greater than 0:",
        "  Remove the last digit of num (divide it by 10, rounding down).",
        "  Add 1 to count.",
        "Return count.",
    ),
}


def nl_task_ids() -> tuple[str, ...]:
  """The tasks that have a natural-language rule here."""
  return tuple(_STEPS)


def nl_rule_text(task_id: str) -> str:
  """The numbered English rule of `task_id`: `1. ...` lines, indented like the code they describe."""
  if task_id not in _STEPS:
    raise ValueError(f"task {task_id!r} has no natural-language rule; tasks with one: {', '.join(_STEPS)}")
  out = []
  for k, step in enumerate(_STEPS[task_id], start=1):
    text = step.lstrip(" ")
    out.append(f"{step[:len(step) - len(text)]}{k}. {text}")
  return "\n".join(out)


def with_nl_rule(task: RuleTask) -> RuleTask:
  """`task` with its `nl_rule` field filled from this module (unchanged if it already has one)."""
  if task.nl_rule is not None:
    return task
  return dataclasses.replace(task, nl_rule=nl_rule_text(task.id))
