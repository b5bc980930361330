"""How answers are written in traces and targets, and read back from model output.

Answer rendering, enforced here (`format_answer`) for every task and format: `repr()`-style text for
str/list/tuple/dict (strings quoted, so `'5'` and `5` stay distinct), `str()` for int/bool/None/float, and
sets written like their repr but with sorted elements (`set()` when empty), so that the text does not depend
on hash order and the same instance gives the same target on every machine and Python run. Container
elements follow the same rule. The same function renders every variable value shown in a trace, so a trace
and its final answer always agree. Evaluation takes the text after the last `So the answer is `
(`extract_answer`) and compares it exactly with the reference rendered here, so any other rendering would
score as wrong.
"""
from __future__ import annotations

from typing import Any

ANSWER_PREFIX = "So the answer is "


def format_answer(value: Any) -> str:
  """Renders `value` as it appears after `So the answer is ` (and for every value shown in a trace)."""
  if isinstance(value, (bool, int, float)) or value is None:
    return str(value)
  if isinstance(value, str):
    return repr(value)
  if isinstance(value, list):
    return "[" + ", ".join(format_answer(v) for v in value) + "]"
  if isinstance(value, tuple):
    inner = ", ".join(format_answer(v) for v in value)
    return "(" + inner + ("," if len(value) == 1 else "") + ")"
  if isinstance(value, dict):
    return "{" + ", ".join(f"{format_answer(k)}: {format_answer(v)}" for k, v in value.items()) + "}"
  if isinstance(value, (set, frozenset)):
    if not value:
      return "set()"
    try:
      items = sorted(value)
    except TypeError:  # mixed element types: order by the rendered text, still independent of hash order
      items = sorted(value, key=format_answer)
    return "{" + ", ".join(format_answer(v) for v in items) + "}"
  raise TypeError(f"format_answer: unsupported answer type {type(value).__name__} ({value!r})")


def extract_answer(text: str) -> str | None:
  """The answer stated in model output: the text after the last `So the answer is `, up to end of line.

  Returns None when the output states no answer.
  """
  at = text.rfind(ANSWER_PREFIX)
  if at < 0:
    return None
  rest = text[at + len(ANSWER_PREFIX):]
  return rest.split("\n", 1)[0].strip()
