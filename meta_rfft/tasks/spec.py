"""What a rule-following task is: the contract every task module in `data/rule_tasks/` fulfils.

A task is data, not library code: a rule (a plain Python function whose source the model is shown), an
instance sampler keyed by the task's own notion of length, a question template, and a reference answer
computed independently of the rule. Everything else (the rule-following trace, the four prompt formats,
the seqio tasks) is derived mechanically from these parts by `meta_rfft.tasks`.
"""
from __future__ import annotations

import dataclasses
import random
from typing import Any, Callable, Mapping

SPLITS = ("rf_pretrain", "heldout")
SOURCES = ("leetcode", "nupa", "bbh", "symbolic", "synthetic")


@dataclasses.dataclass(frozen=True)
class RuleTask:
  """One rule-following task.

  Attributes:
    id: the task id, e.g. "lc_258" or "nupa_add_integer"; its module is data/rule_tasks/<id>.py.
    name: human-readable name, e.g. "Add Digits".
    source: one of SOURCES.
    split: "rf_pretrain" or "heldout".
    length_meaning: what "length" means for this task (the "length means" column of data/DATA_CARD.md).
    rule: the rule, a single top-level function. Its source (`inspect.getsource`) is what the model sees,
      and the tracer executes it line by line. Its parameters are the keys of the instance dict.
    sample: `sample(rng: random.Random, length: int) -> dict` draws one instance (the rule's keyword
      arguments) of the given length; deterministic given the rng state.
    question: `question(instance: dict) -> str` renders the question, ending with the instance in Python
      literal form.
    reference: `reference(instance: dict) -> answer`, computed independently of the rule (e.g. Python's own
      `+` for integer addition); used to check the rule and the trace.
    min_length / max_length: the valid lengths (max_length None = unbounded).
    nl_rule: optional natural-language version of the rule (numbered English steps).
  """

  id: str
  name: str
  source: str
  split: str
  length_meaning: str
  rule: Callable[..., Any]
  sample: Callable[[random.Random, int], Mapping[str, Any]]
  question: Callable[[Mapping[str, Any]], str]
  reference: Callable[[Mapping[str, Any]], Any]
  min_length: int = 1
  max_length: int | None = None
  nl_rule: str | None = None

  def __post_init__(self):
    if self.split not in SPLITS:
      raise ValueError(f"task {self.id!r}: split must be one of {SPLITS}, got {self.split!r}")
    if self.source not in SOURCES:
      raise ValueError(f"task {self.id!r}: source must be one of {SOURCES}, got {self.source!r}")
    if self.min_length < 1 or (self.max_length is not None and self.max_length < self.min_length):
      raise ValueError(f"task {self.id!r}: bad length range [{self.min_length}, {self.max_length}]")

  def check_length(self, length: int) -> None:
    """Raises a ValueError naming the task and its valid range if `length` is impossible for it."""
    hi = "unbounded" if self.max_length is None else str(self.max_length)
    if length < self.min_length or (self.max_length is not None and length > self.max_length):
      raise ValueError(
          f"task {self.id!r}: length {length} is out of range; valid lengths are "
          f"{self.min_length}..{hi} ({self.length_meaning})")
