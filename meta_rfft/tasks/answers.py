"""How answers are written in traces and targets, and read back from model output.

Answer rendering, enforced here (`format_answer`) for every task and format: `repr()`-style text for
str/list/tuple/dict (strings quoted, so `'5'` and `5` stay distinct), `str()` for int/bool/None/float, and
sets written like their repr but with sorted elements (`set()` when empty), so that the text does not depend
on hash order and the same instance gives the same target on every machine and Python run. Container
elements follow the same rule. The same function renders every variable value shown in a trace, so a trace
and its final answer always agree.

Reading answers back (`AnswerRule`): each format declares one rule, which its prompt states or demonstrates,
the scorer reads by and decoding stops by. The output is cut at the first stop marker (a new `\nQ:`: a model
inventing the next question has finished its answer), and the answer is the rest of the line after the FIRST
`So the answer is ` (an answer followed by made-up questions and answers is scored by the answer it gave).
"strict" parsing compares that text exactly with the reference rendered here; "lenient", for instruct models
prompted zero-shot, also reads "the answer is" in any case, else the first non-empty line (less a leading
`A:`/`Answer:` label), drops markdown emphasis and a final period, and compares ignoring whitespace.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any

ANSWER_PREFIX = "So the answer is "
PARSE_MODES = ("strict", "lenient")
_LENIENT_PREFIX = re.compile(r"(?:so\s+)?the\s+(?:final\s+)?answer\s+is\s*:?\s*", re.IGNORECASE)
_LABEL = re.compile(r"^\s*(?:A|Answer)\s*:\s*", re.IGNORECASE)


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


@dataclasses.dataclass(frozen=True)
class AnswerRule:
  """How a format's answer is stated (`prefix`, then the answer, then end of line) and where an output ends
  (`stops`: markers that begin something after the answer; decoding stops at them too)."""
  prefix: str = ANSWER_PREFIX
  stops: tuple[str, ...] = ("\nQ:",)

  def cut(self, text: str) -> str:
    """The output up to the first stop marker (one that begins with a newline also matches at the start)."""
    ends = [max(i - 1, 0) for i in (("\n" + text).find(s) for s in self.stops) if i >= 0]
    return text[:min(ends)] if ends else text

  def parse(self, text: str, mode: str = "strict") -> str | None:
    """The answer the output states (None: none), read by `mode` (PARSE_MODES)."""
    if mode not in PARSE_MODES:
      raise ValueError(f"answer_parse must be one of {PARSE_MODES}, got {mode!r}")
    text = self.cut(text)
    at = text.find(self.prefix)
    if at >= 0:
      answer = text[at + len(self.prefix):].split("\n", 1)[0].strip()
      return answer if mode == "strict" else _tidy(answer)
    if mode == "strict":
      return None
    found = _LENIENT_PREFIX.search(text)
    if found:
      return _tidy(text[found.end():].split("\n", 1)[0])
    lines = [ln for ln in text.split("\n") if ln.strip()]
    return _tidy(_LABEL.sub("", lines[0])) if lines else None

  def matches(self, parsed: str | None, reference: str, mode: str = "strict") -> bool:
    if parsed is None:
      return False
    if mode == "strict":
      return parsed == reference
    return "".join(parsed.split()) == "".join(reference.split())


def _tidy(answer: str) -> str | None:
  answer = answer.strip().strip("*`").strip()
  if answer.endswith(".") and not answer.endswith(".."):
    answer = answer[:-1].rstrip()
  return answer or None


DEFAULT_RULE = AnswerRule()


def extract_answer(text: str) -> str | None:
  """The answer stated in model output by the default rule, read strictly (AnswerRule.parse); None when the
  output states none."""
  return DEFAULT_RULE.parse(text)
