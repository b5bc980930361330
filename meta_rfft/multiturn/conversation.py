"""The multi-turn conversation format: one JSON object a line,
`{"turns": [{"user", "reasoning", "answer"}, ...]}` (plus an optional free-form "meta" object).

`user` is everything before the assistant's output in that turn (the user text and any assistant header);
`reasoning` is the assistant's reasoning, dropped from the context of later turns (may be empty); `answer` is
what later turns see of the assistant's reply. Every bad line is reported with the file, line and field.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Iterable, Iterator, Mapping

from meta_rfft import io_paths

TURN_FIELDS = ("user", "reasoning", "answer")


class ConversationError(ValueError):
  """A conversation that does not follow the format; the message names the file, line and field."""


@dataclasses.dataclass(frozen=True)
class Turn:
  user: str
  reasoning: str
  answer: str


@dataclasses.dataclass(frozen=True)
class Conversation:
  turns: tuple[Turn, ...]
  meta: Mapping[str, Any] | None = None  # free-form provenance (e.g. task and lengths); never trained on

  def to_json(self) -> dict[str, Any]:
    obj: dict[str, Any] = {"turns": [dataclasses.asdict(t) for t in self.turns]}
    if self.meta is not None:
      obj["meta"] = dict(self.meta)
    return obj


def parse_conversation(obj: Any, where: str = "conversation") -> Conversation:
  """Validates one decoded JSON object; `where` (e.g. "convs.jsonl:12") prefixes every error."""
  if not isinstance(obj, Mapping):
    raise ConversationError(f"{where}: expected a JSON object with key 'turns', got {type(obj).__name__}")
  extra = sorted(set(obj) - {"turns", "meta"})
  if extra:
    raise ConversationError(f"{where}: unknown keys {extra}; allowed: 'turns' and an optional 'meta'")
  if "turns" not in obj:
    raise ConversationError(f"{where}: missing key 'turns'")
  turns = obj["turns"]
  if not isinstance(turns, list) or not turns:
    raise ConversationError(f"{where}: 'turns' must be a non-empty list, got {turns!r:.80}")
  parsed = []
  for i, turn in enumerate(turns):
    at = f"{where}: turns[{i}]"
    if not isinstance(turn, Mapping):
      raise ConversationError(f"{at}: expected an object with {TURN_FIELDS}, got {type(turn).__name__}")
    unknown = sorted(set(turn) - set(TURN_FIELDS))
    if unknown:
      raise ConversationError(f"{at}: unknown fields {unknown}; allowed: {list(TURN_FIELDS)}")
    for field in TURN_FIELDS:
      if field not in turn:
        if field == "reasoning":
          continue  # an absent reasoning is an empty one
        raise ConversationError(f"{at}.{field}: missing")
      if not isinstance(turn[field], str):
        raise ConversationError(f"{at}.{field}: must be a string, got {type(turn[field]).__name__}")
    # An empty user text would leave no token to predict the turn's first output token from; an empty
    # answer would leave the turn with nothing for later turns to see.
    for field in ("user", "answer"):
      if not turn[field]:
        raise ConversationError(f"{at}.{field}: must not be empty")
    parsed.append(Turn(user=turn["user"], reasoning=turn.get("reasoning", ""), answer=turn["answer"]))
  meta = obj.get("meta")
  if meta is not None and not isinstance(meta, Mapping):
    raise ConversationError(f"{where}: 'meta' must be an object, got {type(meta).__name__}")
  return Conversation(tuple(parsed), meta)


def read_jsonl(path: str | os.PathLike) -> list[Conversation]:
  """Reads and validates every line of a conversations file (blank lines are skipped)."""
  return list(iter_jsonl(path))


def iter_jsonl(path: str | os.PathLike) -> Iterator[Conversation]:
  try:
    for _, where, obj in io_paths.read_jsonl(path, "conversations file"):
      yield parse_conversation(obj, where)
  except ConversationError:
    raise
  except ValueError as e:  # a missing file, a folder, a line that is not UTF-8 or JSON: named the same way
    raise ConversationError(str(e)) from None


def write_jsonl(conversations: Iterable[Conversation], path: str | os.PathLike) -> int:
  """Writes atomically (temp file, then rename): a failure leaves no partial file. Returns the count."""
  count = 0
  with io_paths.atomic_text_output(path) as f:
    for conv in conversations:
      f.write(json.dumps(conv.to_json(), ensure_ascii=False) + "\n")
      count += 1
  return count
