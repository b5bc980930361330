"""General (non-rule) data files: `data.extra`, JSON lines of chats or prompt/response pairs, read and checked.

One object a line, either
  {"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...]}   the last message is the assistant
      turn trained on; the messages before it are its context (at least one user message);
  {"prompt": str, "response": str}                                             one user turn and its answer.
Other keys are ignored (ids, sources). Every bad line is a ValueError naming the file and the line, raised while
reading, before anything is built or written.

`data.extra` lists the files: "a.jsonl,b.jsonl=0.5" or a list of such entries; `=RATE` sets the file's mixing
rate (a seqio rate, in the units of the rule tasks' rates: examples), else it weighs its number of train examples
(capped by `data.mixing_cap`). A file's task name is its file name's stem, lower-cased, with anything but
letters, digits and `_` turned into `_`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import Any

from meta_rfft import io_paths
from meta_rfft.data.chat_template import check_messages


@dataclasses.dataclass(frozen=True)
class Entry:
  """One `data.extra` entry: the file, its task name and its explicit rate (None = examples-proportional)."""
  path: str
  name: str
  rate: float | None


@dataclasses.dataclass(frozen=True)
class Record:
  line: int  # 1-based line of the file: the example's identity
  context: tuple[tuple[str, str], ...]  # (role, content) of the messages before the trained answer
  response: str

  @property
  def single_turn(self) -> bool:
    """Whether the context is one user message, the only chat plain prompts (no template) can carry."""
    return len(self.context) == 1 and self.context[0][0] == "user"

  def context_json(self) -> str:
    return json.dumps([{"role": r, "content": c} for r, c in self.context], ensure_ascii=False)


def task_name(path: str) -> str:
  stem = io_paths.resolve(path).name
  stem = stem[:-len(".jsonl")] if stem.endswith(".jsonl") else stem.rsplit(".", 1)[0]
  return re.sub(r"[^a-z0-9_]", "_", stem.lower()) or "extra"


def parse_entries(value: Any, key: str = "data.extra") -> list[Entry]:
  """`data.extra` as entries; a missing file, a bad rate or two files with one task name are named errors."""
  if not value:
    return []
  parts = list(value) if isinstance(value, (list, tuple)) else [p for p in str(value).split(",")]
  entries, names = [], {}
  for part in (p.strip() for p in parts):
    if not part:
      continue
    path, rate = part, None
    if "=" in part:
      path, text = part.rsplit("=", 1)
      try:
        rate = float(text)
      except ValueError:
        raise ValueError(f"{key}: bad rate {text!r} for {path!r} (entries are PATH or PATH=RATE)") from None
      if rate < 0:
        raise ValueError(f"{key}: negative rate {rate} for {path!r}")
    if not io_paths.resolve(path).is_file():
      raise ValueError(f"{key}: file {path!r} does not exist")
    name = task_name(path)
    if name in names:
      raise ValueError(f"{key}: {names[name]!r} and {path!r} both give the task name {name!r}; rename one")
    names[name] = path
    entries.append(Entry(path, name, rate))
  return entries


def _record(obj: Any, where: str, line: int) -> Record:
  if not isinstance(obj, dict):
    raise ValueError(f"{where}: expected a JSON object with 'messages' or 'prompt' and 'response', got "
                     f"{type(obj).__name__}")
  if "messages" in obj:
    if "prompt" in obj or "response" in obj:
      raise ValueError(f"{where}: has both 'messages' and 'prompt'/'response'; give one form")
    messages = check_messages(obj["messages"], where)
    if messages[-1]["role"] != "assistant":
      raise ValueError(f"{where}: the last message must be the assistant's (the turn trained on), got "
                       f"{messages[-1]['role']!r}")
    if not any(m["role"] == "user" for m in messages[:-1]):
      raise ValueError(f"{where}: no user message before the assistant's answer")
    return Record(line, tuple((m["role"], m["content"]) for m in messages[:-1]), messages[-1]["content"])
  missing = [k for k in ("prompt", "response") if k not in obj]
  if missing:
    raise ValueError(f"{where}: missing {' and '.join(map(repr, missing))} (a line is {{'messages': [...]}} or "
                     "{'prompt': ..., 'response': ...})")
  for k in ("prompt", "response"):
    if not isinstance(obj[k], str):
      raise ValueError(f"{where}: {k!r} must be a string, got {type(obj[k]).__name__}")
  return Record(line, (("user", obj["prompt"]),), obj["response"])


def read_records(path: str) -> tuple[list[Record], str]:
  """Every record of `path` and the sha1 of its bytes; any bad line is an error naming the file and line."""
  data = io_paths.resolve(path).read_bytes()
  records = [_record(obj, where, line) for line, where, obj in io_paths.jsonl_values(data, path)]
  if not records:
    raise ValueError(f"{path}: no examples (the file is empty)")
  return records, hashlib.sha1(data).hexdigest()
