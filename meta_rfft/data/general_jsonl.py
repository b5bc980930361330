"""General (non-rule) data files: `data.extra`, JSON lines of chats or prompt/response pairs, read and checked.

One object a line, either
  {"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...]}   a chat ending with an assistant
      turn; each assistant turn after a user message is trained on (`data.extra_turns="all"`, the default) or
      only the last (`"last"`), each as one example whose context is the messages before it;
  {"prompt": str, "response": str}                                             one user turn and its answer.
Other keys are ignored (ids, sources). Every bad line is a ValueError naming the file and the line, raised while
reading, before anything is built or written.

Training every turn as its own example renders a turn's context again for each later turn: a chat of T assistant
turns costs about T/2 times its tokens. The loss still covers each assistant turn once.

`data.extra` lists the files: "a.jsonl,b.jsonl=0.5" or a list of such entries; `=RATE` sets the file's mixing
rate (a seqio rate, in the units of the rule tasks' rates: examples), else it weighs its number of train examples
(capped by `data.mixing_cap`). A file's task name is its file name's stem, lower-cased, with anything but
letters, digits and `_` turned into `_`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
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


TURNS = ("all", "last")


@dataclasses.dataclass(frozen=True)
class Record:
  line: int  # 1-based line of the file: with `turn`, the example's identity
  turn: int  # which trained assistant turn of the line's chat (0 = the first; a pair has one)
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


def parse_rate(text: Any, what: str) -> float:
  """A mixing rate: a finite number > 0 (a nan, inf, zero or negative rate would silently drop or swamp a task);
  `what` names the entry in the error."""
  try:
    rate = float(text)
  except (TypeError, ValueError):
    raise ValueError(f"{what}: bad rate {text!r}") from None
  if not math.isfinite(rate) or rate <= 0:
    raise ValueError(f"{what}: rate {text!r} must be a finite number > 0")
  return rate


def parse_entries(value: Any, key: str = "data.extra") -> list[Entry]:
  """`data.extra` as entries; a missing file, a bad rate or two files with one task name are named errors.

  An entry is PATH or PATH=RATE: an entry that is itself an existing file is a PATH (its name may hold '='), else
  it is split at its last '='."""
  if not value:
    return []
  parts = list(value) if isinstance(value, (list, tuple)) else [p for p in str(value).split(",")]
  entries, names = [], {}
  for part in (p.strip() for p in parts):
    if not part:
      continue
    path, rate = part, None
    if "=" in part and not io_paths.resolve(part).is_file():
      path, text = part.rsplit("=", 1)
      try:
        float(text)
      except ValueError:
        raise ValueError(f"{key}: {part!r} is neither an existing file nor PATH=RATE ({text!r} after its last '=' "
                         "is not a number)") from None
      rate = parse_rate(text, f"{key} entry {part!r}")
    if not io_paths.resolve(path).is_file():
      raise ValueError(f"{key}: file {path!r} does not exist")
    name = task_name(path)
    if name in names:
      raise ValueError(f"{key}: {names[name]!r} and {path!r} both give the task name {name!r}; rename one")
    names[name] = path
    entries.append(Entry(path, name, rate))
  return entries


def check_turns(value: Any, key: str = "data.extra_turns") -> str:
  if str(value) not in TURNS:
    raise ValueError(f"{key} must be one of {TURNS}, got {value!r}")
  return str(value)


def _records(obj: Any, where: str, line: int, turns: str) -> list[Record]:
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
    pairs = tuple((m["role"], m["content"]) for m in messages)
    # An assistant message before any user message (a greeting) is context only: there is nothing it answers.
    first_user = next(i for i, m in enumerate(messages) if m["role"] == "user")
    trained = [i for i, m in enumerate(messages) if m["role"] == "assistant" and i > first_user]
    if turns == "last":
      trained = trained[-1:]
    return [Record(line, k, pairs[:i], messages[i]["content"]) for k, i in enumerate(trained)]
  missing = [k for k in ("prompt", "response") if k not in obj]
  if missing:
    raise ValueError(f"{where}: missing {' and '.join(map(repr, missing))} (a line is {{'messages': [...]}} or "
                     "{'prompt': ..., 'response': ...})")
  for k in ("prompt", "response"):
    if not isinstance(obj[k], str):
      raise ValueError(f"{where}: {k!r} must be a string, got {type(obj[k]).__name__}")
  return [Record(line, 0, (("user", obj["prompt"]),), obj["response"])]


def read_records(path: str, turns: str = "all") -> tuple[list[Record], str]:
  """Every record of `path` (one per trained assistant turn: `turns`, as `data.extra_turns`) and the sha1 of its
  bytes; any bad line is an error naming the file and line."""
  turns = check_turns(turns)
  data = io_paths.resolve(path).read_bytes()
  records = [r for line, where, obj in io_paths.jsonl_values(data, path) for r in _records(obj, where, line, turns)]
  if not records:
    raise ValueError(f"{path}: no examples (the file is empty)")
  return records, hashlib.sha1(data).hexdigest()
