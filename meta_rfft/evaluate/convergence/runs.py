"""The study's models: the base checkpoint and the tuned runs, each checked before anything is decoded.

A tuned model must share the base model's vocabulary (SampleGen hands its text to the base model, and every arm's
prompt is tokenized by the model that answers it): vocabularies are compared by `data.vocab.fingerprint`, so two
copies of one tokenizer in different folders agree.
"""
from __future__ import annotations

import dataclasses
import os
import re
import zlib
from typing import Sequence

from meta_rfft import io_paths
from meta_rfft.convert.errors import ConversionError
from meta_rfft.convert.sources import resolve
from meta_rfft.data.vocab import fingerprint
from meta_rfft.evaluate import run_settings
from meta_rfft.tasks.cli import resolve_tasks


@dataclasses.dataclass(frozen=True)
class TunedRun:
  path: str                # absolute, or an object-store URL as given
  label: str               # its folder under arms/<arm>/: the run's name and a hash of its path
  tasks: tuple[str, ...]   # the study's tasks this run answers


def checkpoint(path: str, key: str) -> str:
  """`path` made absolute after checking it holds a checkpoint; the error names the config key."""
  if not str(path).strip():
    raise ValueError(f"config.{key} is empty: name a converted checkpoint, trainer WORKDIR or step folder")
  full = os.fspath(io_paths.resolve(str(path).strip()))
  try:
    resolve(full)
  except ConversionError as e:
    raise ValueError(f"config.{key}: {e}") from None
  return full


def _label(path: str) -> str:
  name = re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.basename(os.path.normpath(path))) or "run"
  return f"{name}-{zlib.crc32(path.encode()):08x}"


def tuned_runs(text: str, task_ids: Sequence[str]) -> list[TunedRun]:
  """config.tuned parsed, checked and grouped: one TunedRun per distinct checkpoint, with the tasks it answers."""
  default, by_task = "", {}
  for entry in (e.strip() for e in str(text).split(",")):
    if not entry:
      continue
    task, sep, path = entry.partition("=")
    if not sep:
      if default:
        raise ValueError(f"config.tuned names two runs for every task ({default!r} and {entry!r}); give one, "
                         f"or TASK=PATH entries")
      default = entry
      continue
    task, path = task.strip(), path.strip()
    if task not in task_ids:
      raise ValueError(f"config.tuned: {task!r} is not one of the study's tasks (config.tasks: "
                       f"{', '.join(task_ids)})")
    if task in by_task:
      raise ValueError(f"config.tuned names two runs for task {task!r}")
    by_task[task] = path
  runs: dict[str, list[str]] = {}
  for task in task_ids:
    path = by_task.get(task, default)
    if not path:
      raise ValueError(f"config.tuned: no tuned run for task {task!r} (give TASK=PATH, or one PATH for all)")
    key = f"tuned ({task}={path})" if task in by_task else f"tuned ({path})"
    runs.setdefault(checkpoint(path, key), []).append(task)
  return [TunedRun(path, _label(path), tuple(tasks)) for path, tasks in runs.items()]


def vocabulary(cfg, ckpt: str):
  return run_settings.eval_vocabulary(cfg.vocab, ckpt, resolve(ckpt).hf_dir)


def keep_chat_date(cfg, runs: Sequence[TunedRun], base_samples: str) -> None:
  """One date for every arm (a template that writes the date): config.chat_date, else the one a resumed study
  began with (its Base-D samples), else the date the tuned runs trained with, else today."""
  run_settings.keep_chat_date(cfg, base_samples)
  if cfg.chat_date:
    return
  records = [run_settings.record_of(r.path) for r in runs]
  dates = sorted({r.chat_date for r in records if r is not None} - {""})
  if len(dates) > 1:
    raise ValueError(f"config.tuned: the tuned runs were trained with chat template dates {dates}; the arms need "
                     "one, so set config.chat_date")
  cfg.chat_date = dates[0] if dates else ""


def check_vocabularies(cfg, base: str, runs: Sequence[TunedRun]) -> None:
  """Every tuned run's vocabulary and prompt rendering (chat template or plain) must be the base model's: the arms
  compare answers to the same prompts."""
  eval_codec = run_settings.eval_codec
  base_vocab = vocabulary(cfg, base)
  want, want_codec = fingerprint(base_vocab), eval_codec(cfg, base, base_vocab).describe()
  for run in runs:
    vocab = vocabulary(cfg, run.path)
    if fingerprint(vocab) != want:
      raise ValueError(f"config.tuned: {run.path} (tasks {', '.join(run.tasks)}) has another vocabulary than "
                       f"the base model {base}; the tuned models must be fine-tunes of the base (same tokenizer)")
    if eval_codec(cfg, run.path, vocab).describe() != want_codec:
      raise ValueError(f"config.tuned: {run.path} renders prompts otherwise than the base model {base} (chat "
                       f"template {eval_codec(cfg, run.path, vocab).describe()} vs {want_codec}); set "
                       "config.chat_template (and config.system_prompt, config.chat_date) for all of them")


def seen_tasks(spec: str, base: str) -> set[str]:
  """The task ids the base model was RF-pretrained on (config.seen_tasks, else the base run's record)."""
  spec = str(spec).strip()
  if spec == "none":
    return set()
  if spec:
    try:
      return {t.id for t, _ in resolve_tasks(spec)}
    except ValueError as e:
      raise ValueError(f"config.seen_tasks: {e}") from None
  record = run_settings.record_of(base)
  if record is None:
    return set()
  try:
    tasks = {t.id for t, _ in resolve_tasks(record.mixture)} if record.mixture else set()
    if record.build_tasks:  # a split name in the mixture reads only the tasks the run's data build holds
      tasks &= {t.id for t, _ in resolve_tasks(record.build_tasks)}
  except ValueError as e:
    raise ValueError(f"config.seen_tasks is empty and the base run's record ({base}) names tasks this project "
                     f"does not know ({e}); set config.seen_tasks") from None
  return tasks
