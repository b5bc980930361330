"""WORKDIR/run.json: how a training run turned its examples into tokens, written once by the trainer and read by
every consumer of its checkpoints through `read` (evaluation, the convergence study, the pipeline's HF check and
the trainer's own resume), so no module reads WORKDIR/config.json key by key.

It holds what a later reader must render the same way: `vocab` (data.vocab as configured: "" = the checkpoint's
tokenizer.json), `chat_template` (resolved: "none" or "hf", never "auto"), `system_prompt`, `chat_date` (the date a
template that writes one rendered), `positions` and `position_range` (the position ids: meta_rfft/data/positions.py),
`user_tasks` (the task modules, as absolute paths), `format` (the trace format of its mixture), and what it trained
on: `mixture` (data.mixture) and `build_tasks` (data.build.tasks: the tasks its data build holds).

A WORKDIR from before run.json existed is read from its config.json's data section (the same keys, with the
defaults those runs had: plain prompts, contiguous positions); a converted checkpoint has no record (None).
`differences` is the one place resume checks compare a stored setting with this run's and name what differs.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping, Sequence

from meta_rfft import io_paths, layouts

FILE = "run.json"


@dataclasses.dataclass(frozen=True)
class RunRecord:
  vocab: str = ""
  chat_template: str = "none"
  system_prompt: str = ""
  chat_date: str = ""
  positions: str = "contiguous"
  position_range: int = 0
  user_tasks: str = ""
  format: str = "rf"
  mixture: str = ""
  build_tasks: str = ""

  @classmethod
  def from_data_config(cls, data: Mapping[str, Any]) -> "RunRecord":
    """The record of a run's resolved `data` section (after the trainer resolved chat_template "auto")."""
    return cls(vocab=str(data.get("vocab") or ""), chat_template=str(data.get("chat_template") or "none"),
               system_prompt=str(data.get("system_prompt") or ""), chat_date=str(data.get("chat_date") or ""),
               positions=str(data.get("positions") or "contiguous"),
               position_range=int(data.get("position_range") or 0), user_tasks=str(data.get("user_tasks") or ""),
               format=str(data.get("format") or "rf"), mixture=str(data.get("mixture") or ""),
               build_tasks=str((data.get("build") or {}).get("tasks") or ""))

  def to_json(self) -> dict:
    return dataclasses.asdict(self)


def run_folder(ckpt: io_paths.PathLike) -> layouts.Workdir:
  """The trainer WORKDIR of `ckpt`: itself, or the run above a WORKDIR/checkpoints/<step> folder (a converted
  checkpoint is returned as is: it has no record)."""
  path = io_paths.resolve(ckpt)
  if path.parent.name == "checkpoints":
    return layouts.Step(path).workdir
  return layouts.Workdir(path)


def write(workdir: io_paths.PathLike, record: RunRecord) -> None:
  io_paths.write_text(layouts.Workdir.at(workdir).run_record, json.dumps(record.to_json(), indent=2) + "\n")


def read(ckpt: io_paths.PathLike) -> RunRecord | None:
  """The record of the trainer run that wrote `ckpt` (a WORKDIR, one of its steps): its run.json, else (an older
  run) its config.json's data section; None for a converted checkpoint. A record that cannot be read is an error
  naming the file."""
  run = run_folder(ckpt)
  for path, pick in ((run.run_record, lambda j: j), (run.config, lambda j: j.get("config", {}).get("data", {}))):
    if path.is_file():
      try:
        stored = pick(io_paths.read_json(path))
        return RunRecord.from_data_config(stored) if path == run.config else RunRecord(**stored)
      except (ValueError, TypeError) as e:
        raise ValueError(f"{os.fspath(path)} cannot be read as the run's record ({type(e).__name__}: {e}); it "
                         "was written by another version or damaged") from None
  return None


def differences(before: Mapping[str, Any], now: Mapping[str, Any], keys: Sequence[str],
                where: str = "") -> list[str]:
  """`config.<key>: <before> there, <now> now` for each dotted key of `keys` that differs (`where` prefixes the
  key, e.g. "data.")."""
  def pick(tree, dotted):
    for part in dotted.split("."):
      tree = (tree or {}).get(part) if isinstance(tree, Mapping) else None
    return tree
  return [f"config.{where}{k}: {pick(before, k)!r} there, {pick(now, k)!r} now" for k in keys
          if pick(before, k) != pick(now, k)]


def keep_date(data, old: RunRecord | None, workdir: str) -> None:
  """A resumed run renders the date its checkpoints were trained with (a template that writes the date):
  data.chat_date "" takes the recorded date; another date is refused, naming the key."""
  if old is None or "chat_date" not in data or not old.chat_date:
    return
  now = str(data.chat_date or "")
  if now and now != old.chat_date:
    raise ValueError(f"config.data.chat_date={now!r}, but the checkpoints in {workdir} were trained with the date "
                     f"{old.chat_date!r}; resume with --config.data.chat_date={old.chat_date!r} or use another "
                     "workdir")
  data.chat_date = old.chat_date


def check_same_prompts(old: RunRecord | None, new: RunRecord, workdir: str) -> None:
  """A resumed run renders its examples as its checkpoints were trained: the same chat template and system prompt
  (and, by keep_date, date)."""
  if old is None:
    return
  differ = differences(old.to_json(), new.to_json(), ("chat_template", "system_prompt"), where="data.")
  if differ:
    raise ValueError(f"the checkpoints in {workdir} were rendered otherwise: " + "; ".join(differ)
                     + ". Resume with the recorded values or use another workdir")
