"""Prompt formats: how a task instance becomes an (inputs, targets) pair.

Formats registered here: `rf` (rule + mechanical trace), `rf_1shot` (rule, one worked example with fewer than
5 loop iterations, then the question), `scratchpad` (intermediate values, no rule), `direct` (answer only),
`rf_index` (`rf` with index hints on lists and loop iterations: index_hints.py), `rf_index_shift` (the same
with the markers of each example shifted by a random offset); nl_format.py registers `rf_nl`.
More formats are added with `register_format(name, fn, rule)`; `fn(task, instance, seed) -> Example`; `rule`
(answers.AnswerRule, default: `So the answer is `, stop at a new `\nQ:`) is how the scorer reads the answer and
where decoding stops.

Every `targets` ends with the rule's prefix and `<answer>`, where the answer is the rule's actual return value
rendered by `format_answer` (answers.py), and holds none of the rule's stop markers; `render` enforces both for
every format, so that what a model is trained on is what the scorer reads. Instances are drawn with `sample_instance(task, length,
seed)`, seeded by a string so that the same (task, length, seed) gives the same instance on every machine and
Python run.
"""
from __future__ import annotations

import copy
import dataclasses
import random
import signal
import threading
from typing import Any, Callable, Mapping

from meta_rfft.tasks import index_hints, tracer
from meta_rfft.tasks.answers import ANSWER_PREFIX, DEFAULT_RULE, AnswerRule, format_answer
from meta_rfft.tasks.rule_program import analyse
from meta_rfft.tasks.spec import RuleTask

RF_INSTRUCTION = "Follow the given rule to solve the question."
SCRATCHPAD_INSTRUCTION = "Solve the question. Show the intermediate values, then the answer."
# The direct format's prompt states the answer line its rule reads (an instruct model asked for "only the
# answer" writes it bare, which no strict reading can tell from other text).
DIRECT_INSTRUCTION = f"Solve the question. Give only the answer, as one line: {ANSWER_PREFIX}<answer>"
ONE_SHOT_MAX_ITERATIONS = 5  # the worked example has fewer loop iterations than this (paper: "< 5 steps")


@dataclasses.dataclass(frozen=True)
class Example:
  inputs: str
  targets: str
  answer: str


RenderFn = Callable[[RuleTask, Mapping[str, Any], int], Example]
_FORMATS: dict[str, RenderFn] = {}
_RULES: dict[str, AnswerRule] = {}


def register_format(name: str, render_fn: RenderFn, rule: AnswerRule = DEFAULT_RULE) -> None:
  """Registers a prompt format and its answer rule. Re-registering a name with a different function is an
  error."""
  if name in _FORMATS and _FORMATS[name] is not render_fn:
    raise ValueError(f"format {name!r} is already registered")
  _FORMATS[name], _RULES[name] = render_fn, rule


def answer_rule(fmt: str) -> AnswerRule:
  """How format `fmt`'s answers are read and where its outputs stop."""
  if fmt not in _RULES:
    raise ValueError(f"unknown format {fmt!r}; known formats: {', '.join(_FORMATS)}")
  return _RULES[fmt]


def format_names() -> tuple[str, ...]:
  return tuple(_FORMATS)


def render(task: RuleTask, instance: Mapping[str, Any], fmt: str, seed: int = 0) -> Example:
  """Renders one instance of `task` in format `fmt`; `seed` picks format-level randomness (1-shot example).

  Every path that writes or scores instances renders them here, so each instance's traced answer is checked
  against the task's reference first (check_instance): no export, data build or evaluation uses one they
  disagree on."""
  if fmt not in _FORMATS:
    raise ValueError(f"unknown format {fmt!r}; known formats: {', '.join(_FORMATS)}")
  check_instance(task, instance)
  example = _FORMATS[fmt](task, instance, seed)
  rule = _RULES[fmt]
  if not example.targets.endswith(rule.prefix + example.answer):
    raise AssertionError(f"format {fmt!r} for task {task.id!r}: targets do not end with the answer line")
  if rule.cut(example.targets) != example.targets:
    raise AssertionError(f"format {fmt!r} for task {task.id!r}: targets hold a stop marker of the answer rule "
                         f"{rule.stops}, where the scorer would cut them")
  return example


def sample_instance(task: RuleTask, length: int, seed: int) -> dict[str, Any]:
  """Draws the instance of `task` for (length, seed); raises naming the task if the length is impossible."""
  task.check_length(length)
  return dict(task.sample(random.Random(f"{task.id}/{length}/{seed}"), length))


def make_example(task: RuleTask, length: int, seed: int, fmt: str) -> Example:
  return render(task, sample_instance(task, length, seed), fmt, seed)


class ReferenceMismatch(ValueError):
  """The rule's traced answer differs from the task's reference answer on an instance."""


REFERENCE_TIME_LIMIT_S = 10.0  # a reference that runs longer on one instance is taken to loop forever
_CHECKED: dict[tuple[Any, str], bool] = {}  # instances already checked, keyed like _TRACE_CACHE


def check_instance(task: RuleTask, instance: Mapping[str, Any]) -> tracer.Trace:
  """Traces the rule and raises ReferenceMismatch if its answer differs from the independent reference answer
  (and a ValueError naming the task if the reference runs past REFERENCE_TIME_LIMIT_S)."""
  trace = _trace(task, instance)
  key = (task.rule, repr(sorted(instance.items())))
  if key in _CHECKED:
    return trace
  ref = format_answer(_reference_in_time(task, copy.deepcopy(dict(instance))))
  if ref != trace.answer:
    raise ReferenceMismatch(
        f"task {task.id!r}: rule answer {trace.answer} != reference answer {ref} on instance {instance!r}")
  if len(_CHECKED) > 4096:
    _CHECKED.clear()
  _CHECKED[key] = True
  return trace


class _TimeUp(Exception):
  pass


def _reference_in_time(task: RuleTask, instance: dict) -> Any:
  """task.reference(instance), stopped after REFERENCE_TIME_LIMIT_S where a timer can interrupt it (the main
  thread of a process; elsewhere it runs unbounded)."""
  if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
    return task.reference(instance)

  def time_up(signum, frame):
    raise _TimeUp()
  previous = signal.signal(signal.SIGALRM, time_up)
  old_timer = signal.setitimer(signal.ITIMER_REAL, REFERENCE_TIME_LIMIT_S)
  try:
    return task.reference(instance)
  except _TimeUp:
    raise ValueError(f"task {task.id!r}: reference() did not return within {REFERENCE_TIME_LIMIT_S:g} s on "
                     f"instance {instance!r} (an endless loop?)") from None
  finally:
    signal.setitimer(signal.ITIMER_REAL, *old_timer)
    signal.signal(signal.SIGALRM, previous)


# Keyed by the rule function itself, not its id(): the key keeps the function alive, so a freed rule's id
# reused by another function can never return the wrong trace.
_TRACE_CACHE: dict[tuple[Any, str], tracer.Trace] = {}


def _trace(task: RuleTask, instance: Mapping[str, Any], render: tracer.Render = format_answer) -> tracer.Trace:
  """trace_rule with a small cache, so that rendering several formats of one instance traces it once."""
  key = (task.rule, repr(sorted(instance.items())), render)
  hit = _TRACE_CACHE.get(key)
  if hit is None:
    if len(_TRACE_CACHE) > 64:
      _TRACE_CACHE.clear()
    hit = _TRACE_CACHE[key] = tracer.trace_rule(task.rule, dict(instance), render)
  return hit


def rule_text(task: RuleTask) -> str:
  return analyse(task.rule).source.rstrip("\n")


def _rf_header(task: RuleTask) -> str:
  return f"{RF_INSTRUCTION}\nrule:\n{rule_text(task)}\n\n"


def _qa(question: str) -> str:
  return f"Q: {question}\nA:\n"


def _render_rf(task, instance, seed):
  trace = _trace(task, instance)
  return Example(_rf_header(task) + _qa(task.question(instance)), tracer.render_rf(trace), trace.answer)


def one_shot_instance(task: RuleTask, seed: int | str) -> tuple[dict[str, Any], tracer.Trace]:
  """The worked example for rf_1shot: a short instance (< 5 loop iterations) drawn from `seed`."""
  _, inst, trace = one_shot_draw(task, seed)
  return inst, trace


def one_shot_draw(task: RuleTask, seed: int | str) -> tuple[int, dict[str, Any], tracer.Trace]:
  """(length, instance, trace) of the worked example `seed` picks (few_shot.py draws more with string seeds).

  Lengths are tried from a seed-chosen small length upwards, then from the minimum; if no instance with
  fewer than 5 iterations exists (a task whose shortest instances already loop more), the instance with
  the fewest iterations seen is used.
  """
  rng = random.Random(f"{task.id}/1shot/{seed}")
  lo = task.min_length
  hi = lo + 3 if task.max_length is None else min(lo + 3, task.max_length)
  start = rng.randint(lo, min(lo + 2, hi))
  best = None
  for length in list(range(start, hi + 1)) + list(range(lo, start)):
    for attempt in range(3):
      inst = dict(task.sample(random.Random(f"{task.id}/1shot/{seed}/{length}/{attempt}"), length))
      trace = _trace(task, inst)
      if trace.loop_iterations < ONE_SHOT_MAX_ITERATIONS:
        return length, inst, trace
      if best is None or trace.loop_iterations < best[2].loop_iterations:
        best = (length, inst, trace)
  return best


def _render_rf_1shot(task, instance, seed):
  shot, shot_trace = one_shot_instance(task, seed)
  trace = _trace(task, instance)
  inputs = (_rf_header(task) + _qa(task.question(shot)) + tracer.render_rf(shot_trace) + "\n\n"
            + _qa(task.question(instance)))
  return Example(inputs, tracer.render_rf(trace), trace.answer)


def _render_hinted(task, instance, h: index_hints.Hints) -> Example:
  trace = _trace(task, instance, h.render)
  question = index_hints.question(task.question(instance), instance, h)
  return Example(_rf_header(task) + _qa(question), tracer.render_rf(trace, h.marker), trace.answer)


def _render_rf_index(task, instance, seed):
  return _render_hinted(task, instance, index_hints.hints(0))


def _render_rf_index_shift(task, instance, seed):
  return _render_hinted(task, instance, index_hints.shifted(task.id, seed))


def _render_scratchpad(task, instance, seed):
  trace = _trace(task, instance)
  return Example(f"{SCRATCHPAD_INSTRUCTION}\n" + _qa(task.question(instance)),
                 tracer.render_scratchpad(trace), trace.answer)


def _render_direct(task, instance, seed):
  # The answer still comes from running the rule, so that all formats agree on every instance.
  answer = _trace(task, instance).answer
  return Example(f"{DIRECT_INSTRUCTION}\n" + _qa(task.question(instance)), ANSWER_PREFIX + answer, answer)


register_format("rf", _render_rf)
register_format("rf_1shot", _render_rf_1shot)
register_format("scratchpad", _render_scratchpad)
register_format("direct", _render_direct)
register_format("rf_index", _render_rf_index)
register_format("rf_index_shift", _render_rf_index_shift)
