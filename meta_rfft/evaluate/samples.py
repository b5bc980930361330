"""RUN/eval/samples.jsonl and the files shaped like it (a QA set's, a convergence arm's): its first line is the
header of every setting that changes a sample's output, then one JSON row per scored sample, each appended once
its batch is done. A sample is known by what it is (format, task, length, instance seed), never by the batch it
came in, so a resume reads the samples already there, drops a torn last line and repeats, and decodes only the
rest; a file written with other settings is refused by name."""
from __future__ import annotations

import json
import zlib
from typing import Any, Mapping, Sequence

from meta_rfft import io_paths
from meta_rfft.evaluate import examples as examples_lib


def item_key(item: examples_lib.Item, seed: int) -> tuple[int, ...]:
  """The random-position key of one evaluated example: the same ids whatever batch it lands in."""
  return (int(seed), zlib.crc32(f"{item.fmt}/{item.task_id}".encode()), int(item.length), int(item.seed))


def sample_key(fmt: str, task_id: str, length: int, seed: int) -> str:
  """What identifies one evaluated sample, whatever batch it was decoded in."""
  return f"{fmt}/{task_id}/{int(length)}/{int(seed)}"


def record_key(rec: Mapping[str, Any]) -> str:
  return sample_key(rec["format"], rec["task"], rec["length"], rec["seed"])


def read_samples(path: str, header: Mapping[str, Any] | None, repair: bool = True) -> list[dict]:
  """The samples already in `path`, each once (the first row of a sample wins); checks the file's header against
  this run's settings `header` (None: a reader of a finished evaluation, which checks none). `repair`: rewrite
  the file without torn or repeated lines (False: only read)."""
  if not io_paths.resolve(path).exists():
    return []
  lines = io_paths.read_text(path).split("\n")
  records, good, seen = [], [], set()
  for i, line in enumerate(lines):
    if not line.strip():
      continue
    try:
      rec = json.loads(line)
    except json.JSONDecodeError:
      if i >= len(lines) - 2:  # a torn final write: its sample is decoded again
        break
      raise ValueError(f"{path}: line {i + 1} is not JSON; the file is damaged (delete it to start over)")
    if i == 0:
      theirs = rec.get("header") or {}
      ours = theirs if header is None else json.loads(json.dumps(dict(header)))
      if theirs != ours:
        differ = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        raise ValueError(f"{path} was written with other settings than this run: "
                         + "; ".join(f"{k}: {theirs.get(k)!r} there, {ours.get(k)!r} now" for k in differ)
                         + f". Use another --workdir or delete {path}")
      good.append(line)
      continue
    key = record_key(rec)
    if key in seen:  # a sample written twice (by an earlier, batch-keyed resume): counted once
      continue
    seen.add(key)
    good.append(line)
    records.append(rec)
  if repair and len(good) != sum(1 for ln in lines if ln.strip()):  # torn or repeated lines: rewritten without them
    io_paths.write_text(path, "\n".join(good) + "\n")
  return records


def check_prompts(path: str, records: Sequence[Mapping[str, Any]], items: Sequence[examples_lib.Item]) -> None:
  """Refuses a samples file whose stored prompt for one of `items` is not the item's prompt (the work list was
  built with other settings, e.g. other demonstrations), naming the file and the first such sample."""
  prompts = {sample_key(it.fmt, it.task_id, it.length, it.seed): it.inputs for it in items}
  for rec in records:
    key = record_key(rec)
    if key in prompts and rec.get("prompt") != prompts[key]:
      raise ValueError(f"{path} holds sample {key} with another prompt than this run builds (settings that "
                       f"shape the prompts changed). Use another --workdir or delete {path}")


def append(path: str, lines: list[str]) -> None:
  io_paths.append_lines(path, lines)  # an object store has no append: there it rewrites the file


def kept(records: list[dict], keys: Sequence[str]) -> list[dict]:
  """The records of this work list (a samples.jsonl may hold more, from a run over more lengths or tasks)."""
  wanted = set(keys)  # records hold each sample once: read_samples drops repeats, the work list only missing ones
  return [r for r in records if record_key(r) in wanted]
