"""Binary text classification examples for composing the reasoning head with an LM: a user's JSONL file, or
True/False questions drawn from the project's rule-following tasks (meta_rfft/tasks).

A rule task's example is its question (`task.question(instance)`, which ends with the instance itself) labelled
1 if the task's reference answer is True, else 0. Only tasks whose reference answers are Python bools qualify.
"""
from __future__ import annotations

import dataclasses
import random

from meta_rfft import io_paths
from meta_rfft.tasks import registry

# How many instances decide whether a task answers True/False at a length, and how many draws per requested
# example a task gets to yield both labels (some tasks answer True far more often than False at short lengths).
PROBE_DRAWS = 8
DRAWS_PER_EXAMPLE = 50


@dataclasses.dataclass(frozen=True)
class TextExample:
  text: str
  label: int


def _parse(obj, where: str) -> TextExample:
  if not isinstance(obj, dict):
    raise ValueError(f"{where}: expected a JSON object {{\"text\": ..., \"label\": 0 or 1}}, got "
                     f"{type(obj).__name__}")
  missing = [k for k in ("text", "label") if k not in obj]
  if missing:
    raise ValueError(f"{where}: missing key{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}")
  text, label = obj["text"], obj["label"]
  if not isinstance(text, str):
    raise ValueError(f"{where}: \"text\" must be a string, got {type(text).__name__} {text!r}")
  if not text.strip():
    raise ValueError(f"{where}: \"text\" is empty")
  # bool is an int subclass: true/false in the file are a mistake, not labels 1/0.
  if isinstance(label, bool) or not isinstance(label, int) or label not in (0, 1):
    raise ValueError(f"{where}: \"label\" must be the integer 0 or 1, got {type(label).__name__} {label!r}")
  return TextExample(text, label)


def read_jsonl(path: str) -> list[TextExample]:
  """The examples of a JSONL file: one {"text": <non-empty string>, "label": 0 or 1} per line, blank lines
  skipped. A bad line raises a ValueError starting "PATH:LINE: "; so do a missing file, a file with no examples
  and one whose examples all carry the same label."""
  if not io_paths.resolve(path).exists():
    raise ValueError(f"{path}: no such file (expected JSONL lines {{\"text\": ..., \"label\": 0 or 1}})")
  examples = [_parse(obj, where) for _, where, obj in io_paths.read_jsonl(path, "TART text file")]
  if not examples:
    raise ValueError(f"{path}: no examples (every line is blank)")
  labels = {e.label for e in examples}
  if len(labels) < 2:
    raise ValueError(f"{path}: all {len(examples)} examples have label {labels.pop()}; a binary classification "
                     f"needs both labels 0 and 1")
  return examples


def _boolean_at(task, length: int, seed: int) -> bool:
  """Whether `task` answers True/False at `length`, judged on a few instances."""
  rng = random.Random(f"{seed}:{task.id}:probe")
  return all(isinstance(task.reference(task.sample(rng, length)), bool) for _ in range(PROBE_DRAWS))


def _select(spec: str, length: int, seed: int) -> list:
  if spec == "boolean":
    tasks = []
    for task in registry.all_tasks():
      try:
        task.check_length(length)
      except ValueError:
        continue
      if _boolean_at(task, length, seed):
        tasks.append(task)
    if not tasks:
      raise ValueError(f"rule tasks 'boolean': no registered task answers True/False at length {length}")
    return tasks
  ids = [s.strip() for s in spec.split(",")]
  if not spec.strip() or not all(ids):
    raise ValueError(f"rule tasks {spec!r}: expected 'boolean' or comma-separated task ids with none empty")
  if len(set(ids)) != len(ids):
    raise ValueError(f"rule tasks {spec!r}: a task id is listed twice")
  tasks = [registry.get_task(i) for i in ids]  # an unknown id raises, naming the nearest ids
  for task in tasks:
    task.check_length(length)
    if not _boolean_at(task, length, seed):
      rng = random.Random(f"{seed}:{task.id}:probe")
      answer = task.reference(task.sample(rng, length))
      raise ValueError(f"rule task {task.id!r} does not answer True/False (e.g. {answer!r} at length {length}); "
                       f"use 'boolean' for every task that does")
  return tasks


def _draw(task, length: int, pool: int, seed: int) -> list[TextExample]:
  """Up to pool // 2 distinct questions of each label, as many of one as of the other, in the order drawn."""
  rng = random.Random(f"{seed}:{task.id}")
  want, tries = pool // 2, DRAWS_PER_EXAMPLE * pool
  seen: set[str] = set()
  drawn: list[TextExample] = []
  counts = {0: 0, 1: 0}
  for _ in range(tries):
    if min(counts.values()) >= want:
      break
    instance = task.sample(rng, length)
    answer = task.reference(instance)
    if not isinstance(answer, bool):
      raise ValueError(f"rule task {task.id!r} answered {answer!r} at length {length}, not True/False")
    text = task.question(instance)
    # A question drawn twice could land in both the labelled examples and the queries.
    if text in seen or counts[int(answer)] >= want:
      continue
    seen.add(text)
    drawn.append(TextExample(text, int(answer)))
    counts[int(answer)] += 1
  if min(counts.values()) == 0:
    only = 1 if counts[1] else 0
    raise ValueError(f"rule task {task.id!r} at length {length}: {tries} draws gave only answer {bool(only)} "
                     f"(label {only}); a binary classification needs both, try another length or task")
  # Balanced: the first n of each label, kept in the order drawn (no label pattern for an LM to pick up).
  n, kept, out = min(counts.values()), {0: 0, 1: 0}, []
  for e in drawn:
    if kept[e.label] < n:
      kept[e.label] += 1
      out.append(e)
  return out


def rule_task_examples(spec: str, length: int, pool: int, seed: int) -> dict[str, list[TextExample]]:
  """Balanced True/False examples of rule tasks at `length`: task id -> up to pool // 2 examples of each label.

  `spec`: "boolean" (every registered task that answers True/False at this length; tasks that cannot take the
  length are skipped) or comma-separated task ids. Each task draws from its own seeded stream, so the same
  arguments give the same examples, and adding a task leaves the others' unchanged."""
  if isinstance(length, bool) or not isinstance(length, int) or length < 1:
    raise ValueError(f"rule task length must be a positive integer, got {length!r}")
  if isinstance(pool, bool) or not isinstance(pool, int) or pool < 2:
    raise ValueError(f"rule task pool must be an integer >= 2 (pool // 2 examples of each label), got {pool!r}")
  return {task.id: _draw(task, length, pool, seed) for task in _select(spec, length, seed)}
