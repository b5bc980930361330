"""Index hints: the `rf_index` format, a variant of `rf` in which every list names the position of each element.

In the plain `rf` trace, `for x in nums` fetches the k-th element with nothing in the text saying which k: the
model must count iterations and find the k-th element by position, and a small transformer learns that only
for the k its training reached. Index hints (Zhou et al. 2024, "Transformers Can Achieve Length Generalization
But Not Robustly") turn both into lookups by content:

    rf:        nums = [7, 1, 3]          ...  for x in nums:  enter the loop    -> x = 1
    rf_index:  nums = [a7, b1, c3]       ...  for x in nums:  enter the loop b  -> x = 1

Element k of every list carries the marker `marker(k)` (a..z, then A..Z, then #52:, #53:, ...), in the question's
instance and in every value the trace shows; an entered `for` loop says which iteration it is with the same
markers. Nothing else changes: the rule, the lines recited, the decisions, and the answer line, which stays
format_answer's plain rendering (`So the answer is [7, 1, 3]`). Strings, numbers and other types are shown as
in `rf`.

`rf_index_shift` shifts the markers of each example by a random offset (0 to MAX_SHIFT, drawn from the task and
the example's seed): `[h7, i1, j3]`. Short training examples then use every marker, so "the list ends after
marker e" is no rule a model trained on lengths 1-5 can learn; only "copy until the source list ends" fits.
"""
from __future__ import annotations

import functools
import random
import string
from typing import Any, Mapping

from meta_rfft.tasks.answers import format_answer

_MARKERS = string.ascii_lowercase + string.ascii_uppercase
INSTANCE_LEAD = " In short, the input is "
MAX_SHIFT = 21  # lists of up to 52 - 21 = 31 elements keep single-letter markers


class Hints:
  """The markers of one example: position k is written `marker(k)`, the alphabet shifted by `offset`."""

  def __init__(self, offset: int = 0):
    self.offset = offset

  def marker(self, k: int) -> str:
    if k < 0:
      raise ValueError(f"index hint for a negative position {k}")
    k += self.offset
    return _MARKERS[k] if k < len(_MARKERS) else f"#{k}:"  # the colon ends the number before the element's

  def render(self, value: Any) -> str:
    """format_answer, with every list element (at any depth) preceded by its position's marker."""
    if isinstance(value, list):
      return "[" + ", ".join(self.marker(k) + self.render(v) for k, v in enumerate(value)) + "]"
    if isinstance(value, tuple) and any(isinstance(v, list) for v in value):
      inner = ", ".join(self.render(v) for v in value)
      return "(" + inner + ("," if len(value) == 1 else "") + ")"
    return format_answer(value)


@functools.lru_cache(maxsize=None)
def hints(offset: int = 0) -> Hints:
  """One Hints object per offset: its bound methods are stable keys of the trace cache."""
  return Hints(offset)


def shifted(task_id: str, seed: int) -> Hints:
  """rf_index_shift's markers for example `seed` of a task."""
  return hints(random.Random(f"{task_id}/index_hints/{seed}").randint(0, MAX_SHIFT))


marker, render = hints(0).marker, hints(0).render


def question(plain: str, instance: Mapping[str, Any], h: Hints | None = None) -> str:
  """The task's question with its instance written with index hints.

  Every task's question ends with `In short, the input is name = value, ...` (values as Python literals);
  that ending is rewritten. A question of another shape is an error naming it."""
  statement, lead, args = plain.rpartition(INSTANCE_LEAD)
  literal = ", ".join(f"{k} = {v!r}" for k, v in instance.items())
  if not lead or args != literal:
    raise ValueError(f"rf_index: the question does not end with its instance ({INSTANCE_LEAD.strip()!r} "
                     f"{literal!r}): {plain[-200:]!r}")
  h = h or hints(0)
  return statement + lead + ", ".join(f"{k} = {h.render(v)}" for k, v in instance.items())
