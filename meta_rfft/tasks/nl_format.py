"""The `rf_nl` prompt format: the rule given as numbered English steps, the trace reciting each step it runs.

The trace is still produced mechanically by running the code rule under the tracer; only the recital
changes: where the `rf` trace recites a code line, `rf_nl` recites the English step that describes it
(`3. For each digit d of num, from left to right:`), followed by the same values read, loop decision and
values written. Step k describes the k-th statement line of the code rule (nl_rules.py's convention); the
tracer's `Step.lineno` says which line ran. The step count is checked against the rule before rendering, so
a rule edited without its English version fails loudly.

Importing this module registers the format (meta_rfft/tasks/__init__.py imports it).
"""
from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any, Mapping

from meta_rfft.tasks import formats, tracer
from meta_rfft.tasks.nl_rules import nl_rule_text
from meta_rfft.tasks.rule_program import analyse
from meta_rfft.tasks.spec import RuleTask

FORMAT = "rf_nl"
_STEP_RE = re.compile(r"^\s*(\d+)\.\s+(\S.*)$")


def nl_rule_of(task: RuleTask) -> str:
  """The task's own `nl_rule`, else the one in nl_rules.py; a ValueError names the task if it has none."""
  return task.nl_rule if task.nl_rule is not None else nl_rule_text(task.id)


def parse_steps(task_id: str, nl_rule: str) -> list[str]:
  """The steps of a numbered English rule, checking that they are numbered 1, 2, 3, ... one per line."""
  steps = []
  for line in nl_rule.splitlines():
    if not line.strip():
      continue
    m = _STEP_RE.match(line)
    if m is None or int(m.group(1)) != len(steps) + 1:
      raise ValueError(f"task {task_id!r}: natural-language rule line {line!r} should be step "
                       f"{len(steps) + 1} written as '{len(steps) + 1}. <text>'")
    steps.append(f"{m.group(1)}. {m.group(2)}")
  return steps


@functools.lru_cache(maxsize=None)
def _step_map(task_id: str, rule: Any, nl_rule: str) -> dict[int, str]:
  program = analyse(rule)
  linenos = sorted(program.lines)
  steps = parse_steps(task_id, nl_rule)
  if len(steps) != len(linenos):
    raise ValueError(f"task {task_id!r}: the natural-language rule has {len(steps)} steps but the code rule "
                     f"has {len(linenos)} statement lines; step k must describe statement line k")
  return dict(zip(linenos, steps))


def step_map(task: RuleTask) -> dict[int, str]:
  """Rule line number (the tracer's `Step.lineno`) -> the English step (`k. text`) that describes it."""
  return _step_map(task.id, task.rule, nl_rule_of(task))


def render_rf_nl_trace(task: RuleTask, instance: Mapping[str, Any]) -> tuple[str, str]:
  """(the trace reciting English steps, the answer) for one instance."""
  mapping = step_map(task)
  trace = tracer.trace_rule(task.rule, dict(instance))
  steps = tuple(dataclasses.replace(s, text=mapping[s.lineno]) for s in trace.steps)
  return tracer.render_rf(dataclasses.replace(trace, steps=steps)), trace.answer


def _render_rf_nl(task: RuleTask, instance: Mapping[str, Any], seed: int) -> formats.Example:
  del seed  # no format-level randomness
  targets, answer = render_rf_nl_trace(task, instance)
  inputs = f"{formats.RF_INSTRUCTION}\nrule:\n{nl_rule_of(task)}\n\nQ: {task.question(instance)}\nA:\n"
  return formats.Example(inputs, targets, answer)


formats.register_format(FORMAT, _render_rf_nl)
