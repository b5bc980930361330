"""What the TFDS builder materialises: resolved build settings and the rendered examples, in pure Python.

One stored example = task, length, seed, the instance (JSON; tuples become lists, the exact instance is
`sample_instance(task, length, seed)`), the answer, and `<fmt>_inputs` / `<fmt>_targets` for every stored
format (empty strings for formats not built for that kind of task). Rendering happens here, once; the
tf.data graph only reads strings and tokenises.

Seeds: example k of a (task, split, length) uses instance seed `build.seed * 10_000_000 + OFFSET[split] + k`
(train 0, validation 4,000,000, test 7,000,000), so splits never share a seed, and the train split of build
seed 0 holds exactly the instances that `python -m meta_rfft.tasks export --seed 0` writes.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
from typing import Any, Iterator, Mapping

from meta_rfft.tasks import formats, registry, user_tasks
from meta_rfft.tasks.cli import parse_lengths

SPLITS = ("train", "validation", "test")
SEED_OFFSET = {"train": 0, "validation": 4_000_000, "test": 7_000_000}
MAX_PER_LENGTH = 3_000_000
# Bump when the rendered text changes (trace format, prompt templates), so that old builds are not reused.
RENDER_VERSION = 3


@dataclasses.dataclass(frozen=True)
class Part:
  """One (task, split): the lengths drawn and how many examples per length."""

  task_id: str
  split: str
  lengths: tuple[int, ...]
  per_length: int

  @property
  def num_examples(self) -> int:
    return len(self.lengths) * self.per_length

  @property
  def tfds_split(self) -> str:
    return tfds_split_name(self.task_id, self.split)


@dataclasses.dataclass(frozen=True)
class BuildSettings:
  seed: int
  formats: tuple[str, ...]  # union of the stored formats: one pair of string features each
  task_formats: Mapping[str, tuple[str, ...]]  # task id -> formats rendered for it
  parts: tuple[Part, ...]
  # (task id, hash of its module's source) of the tasks outside data/rule_tasks/, whose code RENDER_VERSION
  # does not cover (user_tasks.source_digest): an edited user task then builds a new dataset.
  sources: tuple[tuple[str, str], ...] = ()

  @property
  def name(self) -> str:
    """Stable name of this build (the TFDS config name): a digest of everything that shapes the data."""
    shape = {"v": RENDER_VERSION, "seed": self.seed, "formats": self.formats,
             "task_formats": sorted(self.task_formats.items()),
             "parts": [dataclasses.astuple(p) for p in self.parts]}
    if self.sources:  # only then: builds of built-in tasks keep the names they were built under
      shape["sources"] = [list(s) for s in self.sources]
    blob = json.dumps(shape, sort_keys=True)
    return "b" + hashlib.sha1(blob.encode()).hexdigest()[:12]

  def parts_of(self, task_id: str) -> dict[str, Part]:
    return {p.split: p for p in self.parts if p.task_id == task_id}


def tfds_split_name(task_id: str, split: str) -> str:
  return f"{task_id}__{split}"


def _formats(text: str, key: str) -> tuple[str, ...]:
  out = tuple(f.strip() for f in str(text).split(",") if f.strip())
  for f in out:
    if f not in formats.format_names():
      raise ValueError(f"data.build.{key}: unknown format {f!r}; formats: {formats.format_names()}")
  return out


def resolve(build_cfg: Mapping[str, Any]) -> BuildSettings:
  """Turns `data.build` (see config.py) into explicit per-(task, split) parts; errors name the key."""
  ids = [t.strip() for t in str(build_cfg["tasks"]).split(",") if t.strip()] or registry.task_ids()
  tasks = [registry.get_task(i) for i in ids]
  kind_formats = {"rf_pretrain": _formats(build_cfg["rf_pretrain_formats"], "rf_pretrain_formats"),
                  "heldout": _formats(build_cfg["heldout_formats"], "heldout_formats")}
  parts = []
  for split in SPLITS:
    for task in tasks:
      spec = build_cfg["splits"][split][task.split]
      try:
        lengths = parse_lengths(str(spec["lengths"]))
      except ValueError as e:
        raise ValueError(f"data.build.splits.{split}.{task.split}.lengths: {e}") from None
      per_length = int(spec["per_length"])
      if not 0 <= per_length <= MAX_PER_LENGTH:
        raise ValueError(f"data.build.splits.{split}.{task.split}.per_length must be in 0..{MAX_PER_LENGTH}")
      valid = tuple(n for n in lengths
                    if n >= task.min_length and (task.max_length is None or n <= task.max_length))
      if per_length and valid:
        parts.append(Part(task.id, split, valid, per_length))
  all_formats = tuple(f for f in formats.format_names() if any(f in fs for fs in kind_formats.values()))
  if not parts:
    raise ValueError("data.build selects no example (every per_length is 0 or no task has a valid length)")
  sources = tuple(sorted((t.id, d) for t in tasks if (d := user_tasks.source_digest(t)) is not None))
  return BuildSettings(seed=int(build_cfg["seed"]), formats=all_formats,
                       task_formats={t.id: kind_formats[t.split] for t in tasks}, parts=tuple(parts),
                       sources=sources)


def example_seed(settings: BuildSettings, split: str, k: int) -> int:
  return settings.seed * 10_000_000 + SEED_OFFSET[split] + k


def generate(settings: BuildSettings, part: Part, pool=None) -> Iterator[tuple[str, dict[str, Any]]]:
  """Yields (key, features) for every example of `part`, rendered in every format of its task.

  With a `pool` (see `worker_pool`), lengths are rendered in parallel; the order of the output is the same.
  """
  if pool is None:
    for length in part.lengths:
      yield from _generate_length(settings, part, length)
    return
  jobs = [(settings, part, length, lo, min(lo + _CHUNK, part.per_length))
          for length in part.lengths for lo in range(0, part.per_length, _CHUNK)]
  for rows in pool.imap(_generate_chunk, jobs):
    yield from rows


_CHUNK = 100  # examples per parallel job: big enough to amortise pickling, small enough to balance


def _generate_chunk(job) -> list[tuple[str, dict[str, Any]]]:
  settings, part, length, lo, hi = job
  return list(_generate_length(settings, part, length, range(lo, hi)))


def worker_pool(num_workers: int):
  """A fork-based process pool for rendering (None for one worker). Forked workers inherit every task
  registered in this process, including ones registered in code rather than from a module."""
  n = num_workers if num_workers > 0 else min(16, os.cpu_count() or 1)
  return multiprocessing.get_context("fork").Pool(n) if n > 1 else None


def _generate_length(settings: BuildSettings, part: Part, length: int,
                     ks: range | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
  task = registry.get_task(part.task_id)
  fmts = settings.task_formats[part.task_id]
  for k in (range(part.per_length) if ks is None else ks):
    seed = example_seed(settings, part.split, k)
    try:
      instance = formats.sample_instance(task, length, seed)
      formats.check_instance(task, instance)  # never store an example whose rule disagrees with reference
    except Exception as e:
      # A ValueError (one string argument, so that it crosses the worker pool): the build stops with one line.
      raise ValueError(f"data.build: task {task.id!r}, split {part.split}, length {length}, seed {seed}: "
                       f"{type(e).__name__}: {e}") from None
    row = {"task": task.id, "length": length, "seed": seed,
           "instance": json.dumps(instance), "answer": ""}
    for fmt in settings.formats:
      if fmt in fmts:
        e = formats.render(task, instance, fmt, seed)
        row[f"{fmt}_inputs"], row[f"{fmt}_targets"], row["answer"] = e.inputs, e.targets, e.answer
      else:
        row[f"{fmt}_inputs"] = row[f"{fmt}_targets"] = ""
    yield f"{task.id}/{length}/{seed}", row
