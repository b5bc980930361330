"""The evaluation work list: which (format, task, length, seed) examples, in which batches.

Instances are the test split's: example k of a (task, length) uses the data pipeline's test seed
(`materialize.example_seed(settings, "test", k)`), so evaluation reads exactly the instances the TFDS test
split holds, which never share a seed with training or validation data. They are rendered here directly
(`formats.render`) rather than read back from TFDS: evaluation then needs no data build, and the prompt text
is byte-identical to what the seqio task would hold (both come from `formats.render`).

Batches never mix (format, task, length): prompts and outputs of one batch then have similar lengths, which
keeps padding (and bucket sizes) small. A batch's id names its contents, so a restarted evaluation knows
which batches are already in samples.jsonl.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

from meta_rfft.data import materialize
from meta_rfft.tasks import formats, tracer, user_tasks
from meta_rfft.tasks.answers import PARSE_MODES
from meta_rfft.tasks.cli import parse_lengths, resolve_tasks
from meta_rfft.tasks.spec import RuleTask


@dataclasses.dataclass(frozen=True)
class Item:
  fmt: str
  task_id: str
  length: int
  seed: int
  inputs: str
  targets: str
  answer: str
  ref_loops: int | None  # loop iterations the rule really runs (rf formats only)


@dataclasses.dataclass(frozen=True)
class Batch:
  id: str
  items: tuple[Item, ...]


def parse_formats(text: str, key: str = "formats") -> list[str]:
  out = [f.strip() for f in str(text).split(",") if f.strip()]
  if not out:
    raise ValueError(f"config.{key} selects no format")
  for f in out:
    if f not in formats.format_names():
      raise ValueError(f"config.{key}: unknown format {f!r}; known formats: {', '.join(formats.format_names())}")
  return out


def load_user_tasks(own: str, trained: str) -> list[RuleTask]:
  """The user's own tasks (meta_rfft/tasks/user_tasks.py) of an evaluation, loaded before `select_tasks`:
  config.user_tasks if set (a converted checkpoint has no run record), else the trained run's (`trained`: its
  record's user_tasks), so that a run trained on user tasks is evaluated on them without naming them again."""
  if str(own or "").strip():
    return user_tasks.load_user_tasks(str(own), "config.user_tasks")
  return user_tasks.load_user_tasks(str(trained or ""), "the trained run's data.user_tasks")


def select_tasks(text: str) -> list[RuleTask]:
  """`heldout`, `rf_pretrain`, task ids, or a comma-separated mix; errors name config.tasks."""
  try:
    return [t for t, _ in resolve_tasks(str(text))]
  except ValueError as e:
    raise ValueError(f"config.tasks: {e}") from None


def lengths_of(text: str) -> list[int]:
  try:
    return parse_lengths(str(text))
  except ValueError as e:
    raise ValueError(f"config.lengths: {e}") from None


def is_rf(fmt: str) -> bool:
  """Formats whose outputs are rule-following traces (loop decisions spelled out)."""
  return fmt.startswith("rf")


def make_batches(fmts: Sequence[str], tasks: Sequence[RuleTask], lengths: Sequence[int], per_length: int,
                 batch_size: int, build_seed: int = 0) -> list[Batch]:
  """Every example to evaluate, grouped into batches; lengths a task does not support are skipped."""
  if per_length < 1:
    raise ValueError(f"config.samples_per_length must be >= 1, got {per_length}")
  if batch_size < 1:
    raise ValueError(f"config.batch_size must be >= 1, got {batch_size}")
  settings = materialize.BuildSettings(seed=build_seed, formats=(), task_formats={}, parts=())
  batches = []
  for fmt in fmts:
    for task in tasks:
      for length in lengths:
        if length < task.min_length or (task.max_length is not None and length > task.max_length):
          continue
        items = []
        for k in range(per_length):
          seed = materialize.example_seed(settings, "test", k)
          try:
            instance = formats.sample_instance(task, length, seed)
            ex = formats.render(task, instance, fmt, seed)
            loops = formats.check_instance(task, instance).loop_iterations if is_rf(fmt) else None
          except formats.ReferenceMismatch as e:
            raise ValueError(f"config.tasks: {e} (length {length}, seed {seed}): no evaluation scores an instance "
                             "whose rule and reference disagree") from None
          except (ValueError, OverflowError, RecursionError, MemoryError) as e:
            # Before any model is loaded: e.g. Python's int-digits limit at a length of 100000.
            raise ValueError(f"config.lengths: task {task.id!r} cannot make a {fmt} example of length {length} "
                             f"({type(e).__name__}: {str(e)[:200]})") from None
          items.append(Item(fmt, task.id, length, seed, ex.inputs, ex.targets, ex.answer, loops))
        batches.extend(batched(items, batch_size))
  return batches


def batched(items: Sequence[Item], batch_size: int) -> list[Batch]:
  """`items` in batches of at most `batch_size` that never mix (format, task, length), in first-seen order."""
  groups: dict[tuple[str, str, int], list[Item]] = {}
  for it in items:
    groups.setdefault((it.fmt, it.task_id, it.length), []).append(it)
  out = []
  for (fmt, task_id, length), group in groups.items():
    for start in range(0, len(group), batch_size):
      out.append(Batch(f"{fmt}/{task_id}/{length}/{start}", tuple(group[start:start + batch_size])))
  return out


def traced_loops(output: str) -> int:
  """Loop iterations a model's rf output traced: its "enter the loop" decisions (in rf_index followed by the
  iteration's marker)."""
  return sum(1 for line in output.split("\n") if line.strip().split(" ")[:3] == tracer.ENTER.split(" "))


def answer_settings(fmts: Sequence[str], answer_parse: str, key: str = "config.answer_parse") -> dict:
  """How the answers of `fmts` are read and where decoding stops (a samples.jsonl header entry: both change the
  rows); refuses an unknown parse mode naming `key`."""
  if answer_parse not in PARSE_MODES:
    raise ValueError(f"{key} must be one of {PARSE_MODES}, got {answer_parse!r}")
  return {"parse": answer_parse, "stops": sorted({s for f in fmts for s in formats.answer_rule(f).stops})}


def scorer(answer_parse: str = "strict"):
  """The rule tasks' scorer: the first answer each format's rule reads from the output (answers.AnswerRule:
  cut at a stop marker, the line after the first `So the answer is `), matched against the reference's rendering
  (`answer_parse`: strict, exactly; lenient, as AnswerRule.parse and matches say), and the loop count the output
  traced."""
  def score(batch: Batch, outputs: list[str], new_tokens: list[int], forwards: list[int]) -> list[dict]:
    rows = []
    for item, text, n, calls in zip(batch.items, outputs, new_tokens, forwards):
      rule = formats.answer_rule(item.fmt)
      parsed = rule.parse(text, answer_parse)
      rows.append({
          "batch": batch.id, "format": item.fmt, "task": item.task_id, "length": item.length, "seed": item.seed,
          "prompt": item.inputs, "output": text, "parsed": parsed, "reference": item.answer,
          "correct": rule.matches(parsed, item.answer, answer_parse), "new_tokens": n, "forwards": calls,
          "ref_loops": item.ref_loops,
          "traced_loops": traced_loops(rule.cut(text)) if item.ref_loops is not None else None,
      })
    return rows
  return score
