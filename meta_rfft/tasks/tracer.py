"""Executes a rule under `sys.settrace` and writes its rule-following trace mechanically.

Only the rule's own code object is traced (builtins and comprehensions run untraced, as one step of their
line). At every executed line the tracer snapshots the rendered local variables; the difference between one
snapshot and the next is what that line changed. Loop and branch decisions follow from which line runs next:
a loop header followed by a line of its body was entered.

The rendered trace, one block per executed line (the paper's format, made compact):

    total += int(d)          <- the line, recited
    total = 3, d = '5'       <- the values it reads, before it runs (subscripts such as `x[i]` included)
    enter the loop           <- loop headers: "enter the loop" / "do not enter"; `if`/`elif`: "True" / "False"
    -> total = 8             <- every variable it changed or assigned, after it ran
    ...
    So the answer is 8       <- format_answer(the rule's actual return value)

Compactness: a read variable whose rendering is longer than LONG_VALUE characters is shown again only if it
changed since it was last shown (a list being scanned is not re-printed at every step; `x[i]` is shown); a
`for` header shows what it reads when the loop starts, not at every iteration (Python evaluates the
iterable once).
An assignment whose line already reads `name = <the value written>` (`total = 0`) has no `->` line.
The scratchpad format keeps only the writes (all of them, without the arrow) and the answer.
"""
from __future__ import annotations

import copy
import dataclasses
import sys
from typing import Any, Callable, Mapping

from meta_rfft.tasks.answers import ANSWER_PREFIX, format_answer
from meta_rfft.tasks.rule_program import RuleProgram, analyse

LONG_VALUE = 16
MAX_LINES = 200_000  # a rule still running after this many lines is looping forever on this instance

ENTER, SKIP = "enter the loop", "do not enter"


@dataclasses.dataclass(frozen=True)
class Step:
  """One executed line: what it read (before), the decision it took, what it wrote (after)."""

  text: str
  reads: tuple[tuple[str, str], ...]
  decision: str | None
  writes: tuple[tuple[str, str], ...]
  lineno: int = 0  # the line's number relative to the `def` line (= 1); lets rf_nl map a step to its line
  iteration: int | None = None  # an entered `for` header: which iteration of this run of the loop (0, 1, ...)
  stated: tuple[str, ...] = ()  # writes the line itself states (`total = 0` writes total = 0): not repeated


@dataclasses.dataclass(frozen=True)
class Trace:
  steps: tuple[Step, ...]
  result: Any  # the rule's actual return value
  answer: str  # format_answer(result)
  loop_iterations: int  # number of "enter the loop" decisions, over all loops


Render = Callable[[Any], str]


def _render_locals(f_locals: Mapping[str, Any], render: Render) -> dict[str, tuple[str, str]]:
  """name -> (format_answer's text, the text shown). What is shown, and whether a value changed, is decided on
  the first, so that a trace with another `render` shows exactly the same reads and writes."""
  out = {}
  for k, v in f_locals.items():
    plain = format_answer(v)
    out[k] = (plain, plain if render is format_answer else render(v))
  return out


def _run(fn: Callable[..., Any], program: RuleProgram, instance: Mapping[str, Any], render: Render):
  """Runs the rule; returns (events, final snapshot, result). An event = (line, snapshot, subscripts)."""
  code = fn.__code__
  offset = program.first_lineno - 1
  lines = program.lines
  events: list[tuple[int, dict[str, str], tuple[tuple[str, str], ...]]] = []
  final: list[dict[str, str]] = []

  def local_trace(frame, event, arg):
    if event == "line":
      if len(events) >= MAX_LINES:
        raise RuntimeError(f"rule {program.name!r} ran more than {MAX_LINES} lines on {dict(instance)!r}")
      lineno = frame.f_lineno - offset
      if events and events[-1][0] == lineno:
        # A backward jump inside one line (a comprehension inlined into the frame, Python >= 3.12) is
        # still one execution of that line: no supported rule runs the same line twice in a row.
        return local_trace
      f_locals = frame.f_locals
      shown = []
      info = lines.get(lineno)
      if info is not None and info.subscripts:
        env = dict(f_locals)
        for text, expr in info.subscripts:
          try:
            shown.append((text, render(eval(expr, {"__builtins__": __builtins__}, env))))
          except Exception:  # e.g. `i < n and x[i]` with i == n: Python never evaluates it either
            pass
      events.append((lineno, _render_locals(f_locals, render), tuple(shown)))
    elif event == "return":
      final.append(_render_locals(frame.f_locals, render))
    return local_trace

  def global_trace(frame, event, arg):
    return local_trace if frame.f_code is code else None

  previous = sys.gettrace()
  sys.settrace(global_trace)
  try:
    result = fn(**copy.deepcopy(dict(instance)))  # rules may edit their inputs in place
  finally:
    sys.settrace(previous)
  return events, final[-1], result


def trace_rule(fn: Callable[..., Any], instance: Mapping[str, Any], render: Render = format_answer) -> Trace:
  """Executes `fn(**instance)` under the tracer and returns the structured trace.

  `render` writes every value the trace shows (default: format_answer, the answer's own rendering); the answer
  itself is always format_answer's."""
  program = analyse(fn)
  missing = set(program.params) - set(instance)
  extra = set(instance) - set(program.params)
  if missing or extra:
    raise ValueError(f"rule {program.name!r}: instance keys {sorted(instance)} do not match the rule's "
                     f"parameters {list(program.params)} (missing {sorted(missing)}, extra {sorted(extra)})")
  events, final, result = _run(fn, program, instance, render)
  steps = []
  last_shown: dict[str, str] = {}
  iterations = 0
  loop_runs: dict[int, int] = {}  # `for` header line -> iterations entered in its current run
  for k, (lineno, before, subs) in enumerate(events):
    info = program.lines.get(lineno)
    if info is None:
      raise RuntimeError(f"rule {program.name!r}: executed line {lineno} has no statement of its own")
    after = events[k + 1][1] if k + 1 < len(events) else final
    next_line = events[k + 1][0] if k + 1 < len(events) else None
    reads = []
    # A `for` header evaluates its iterable once, when the loop starts: its reads are shown then, not again
    # at every later iteration (when the previous line was one of the loop's own body).
    prev_line = events[k - 1][0] if k else None
    later_iteration = (info.kind == "for" and prev_line is not None
                       and info.body[0] <= prev_line <= info.body[1])
    for name in () if later_iteration else info.reads:
      if name not in before:
        continue
      value, shown = before[name]
      if len(value) > LONG_VALUE and last_shown.get(name) == value:
        continue
      reads.append((name, shown))
      last_shown[name] = value
    if not later_iteration:
      reads.extend(subs)
    decision, iteration = None, None
    if info.body is not None:
      inside = next_line is not None and info.body[0] <= next_line <= info.body[1]
      if info.kind == "if":
        decision = "True" if inside else "False"
      else:
        decision = ENTER if inside else SKIP
        iterations += inside
        if info.kind == "for" and inside:
          iteration = loop_runs.get(lineno, 0) if later_iteration else 0
          loop_runs[lineno] = iteration + 1
    # A line's own assignments are shown even when the value did not change (`carry = s // 10` -> 1 again);
    # a loop header assigns its target only when the loop is entered.
    stores = info.stores if decision != SKIP else frozenset()
    written = [n for n, v in after.items() if before.get(n, (None,))[0] != v[0] or n in stores]
    last_shown.update((n, after[n][0]) for n in written)
    stated = tuple(n for n in written if info.text == f"{n} = {after[n][0]}")
    steps.append(Step(text=info.text, reads=tuple(reads), decision=decision,
                      writes=tuple((n, after[n][1]) for n in written), lineno=lineno, iteration=iteration,
                      stated=stated))
  return Trace(steps=tuple(steps), result=result, answer=format_answer(result), loop_iterations=iterations)


def _pairs(items: tuple[tuple[str, str], ...]) -> str:
  return ", ".join(f"{n} = {v}" for n, v in items)


def render_rf(trace: Trace, loop_mark: Callable[[int], str] | None = None) -> str:
  """The rule-following trace: every line recited with its reads, decision and writes; then the answer.

  `loop_mark`: entered `for` iterations say which one they are: `enter the loop <loop_mark(iteration)>`."""
  out = []
  for step in trace.steps:
    out.append(step.text)
    if step.reads:
      out.append(_pairs(step.reads))
    if step.decision and loop_mark is not None and step.iteration is not None:
      out.append(f"{step.decision} {loop_mark(step.iteration)}")
    elif step.decision:
      out.append(step.decision)
    # `total = 0`, `kinds = {...}`: the line itself already states the value written; do not repeat it.
    writes = tuple(w for w in step.writes if w[0] not in step.stated)
    if writes:
      out.append("-> " + _pairs(writes))
  out.append(ANSWER_PREFIX + trace.answer)
  return "\n".join(out)


def render_scratchpad(trace: Trace) -> str:
  """The scratchpad baseline: only the intermediate variable changes, then the answer."""
  out = [_pairs(step.writes) for step in trace.steps if step.writes]
  out.append(ANSWER_PREFIX + trace.answer)
  return "\n".join(out)
