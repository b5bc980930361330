"""The evaluation loop every study shares: the samples a samples.jsonl does not hold yet are decoded in batches
(greedy, KV cache, optionally prompt lookup), scored by the study's scorer and appended batch by batch, on one
process or several (only process 0 reads and writes the file: hosts.py)."""
from __future__ import annotations

import json
import os
from typing import Any, Callable, Mapping, Sequence

from meta_rfft import io_paths
from meta_rfft.data import positions as positions_lib
from meta_rfft.data.vocab import encode_texts
from meta_rfft.evaluate import examples as examples_lib
from meta_rfft.evaluate import hosts
from meta_rfft.evaluate.decode import strip_eos
from meta_rfft.evaluate.progress import Progress
from meta_rfft.evaluate.samples import append, check_prompts, item_key, kept, read_samples, record_key, sample_key
from meta_rfft.evaluate.session import ModelSession


def decode_samples(cfg, batches: Sequence[examples_lib.Batch], *, path: str, header: Mapping[str, Any],
                   session: Callable[[], ModelSession], on_checked: Callable[[], Any] | None = None,
                   score: Callable[..., list[dict]], label: str = "eval",
                   limit: Callable[[examples_lib.Item], int] | None = None) -> tuple[list[dict], str | None]:
  """Decodes and scores every item of `batches` that `path` (a samples.jsonl) does not hold yet, appending each
  finished batch; returns (the records of every item, each once; the decoding label, None if nothing was
  decoded). `header`: the settings `path` must have been written with (output_header, plus whatever else
  fixes the prompts). `session`: called (once) only if something is left to decode. Call on every process.
  `score`: (batch, outputs, new_tokens, forwards) -> one row per item (the study's scorer, e.g.
  length.run.score).
  `limit`: an item's generation limit (default: from its reference output's length and cfg.max_new_*); either
  way capped by the model's room."""
  leader = hosts.is_leader()
  records: list[dict] = []
  keys = [sample_key(it.fmt, it.task_id, it.length, it.seed) for b in batches for it in b.items]

  def read_finished():
    io_paths.resolve(os.path.dirname(path)).mkdir(parents=True, exist_ok=True)
    records.extend(read_samples(path, header))
    check_prompts(path, records, [it for b in batches for it in b.items])
    if not io_paths.resolve(path).exists():
      append(path, [json.dumps({"header": header})])
    have = {record_key(r) for r in records}
    return [key in have for key in keys]

  # Process 0's file decides; every process must skip exactly the same samples.
  finished = hosts.finished_mask(read_finished, len(keys), f"reading {path}")
  if on_checked is not None:
    hosts.on_leader(on_checked, f"writing beside {path}")
  todo, i = [], 0
  for b in batches:
    missing = tuple(it for it, done in zip(b.items, finished[i:i + len(b.items)]) if not done)
    i += len(b.items)
    if missing:
      todo.append(b if len(missing) == len(b.items) else examples_lib.Batch(b.id, missing))
  # Only process 0 reports progress (the others decode the same batches in step with it).
  progress = Progress(len(keys), done=int(finished.sum()), label=label) if leader else None
  if finished.any() and leader:
    print(f"{label}: resuming, {int(finished.sum())} of {len(keys)} samples already in {path}", flush=True)
  if not todo:
    return kept(records, keys), None
  s = session()
  decoder, vocab = s.decoder, s.vocab
  pos_mode, pos_range = header["positions"]["mode"], int(header["positions"]["range"])
  if leader:
    print(f"{label}: decoding with {s.label}", flush=True)
  for batch in todo:
    prompts = s.codec.batch_prompt_ids([it.inputs for it in batch.items])
    if limit is None:
      ref_lens = [len(ids) + 1 for ids in encode_texts(vocab, [it.targets for it in batch.items])]
      wanted = [min(int(cfg.max_new_factor * n) + int(cfg.max_new_extra), int(cfg.max_new_tokens)) for n in ref_lens]
    else:
      wanted = [int(limit(it)) for it in batch.items]
    room = decoder.room_for(max(len(p) for p in prompts))
    limits = [max(1, min(n, room)) for n in wanted]
    positions = None
    if pos_mode != "contiguous":
      positions = [positions_lib.sequence_positions(pos_mode, len(p) + n, pos_range, item_key(it, int(cfg.seed)))
                   for p, n, it in zip(prompts, limits, batch.items)]
    outs = decoder.decode_batch(prompts, limits, positions)
    texts = [vocab.decode(strip_eos(o, decoder.eos_ids)) for o in outs]
    rows = score(batch, texts, [len(o) for o in outs], decoder.last_forwards)
    for row, item in zip(rows, batch.items):
      rendered = s.codec.prompt_text(item.inputs)
      if rendered != item.inputs:  # a chat template (and system message) around the prompt: the model's exact text
        row["rendered_prompt"] = rendered
    # Checked on every process before the next batch: a failed write on process 0 stops all of them here.
    hosts.on_leader(lambda rows=rows: append(path, [json.dumps(r) for r in rows]), f"appending to {path}")
    records.extend(rows)
    acc = sum(r["correct"] for r in rows) / len(rows)
    if progress is not None:
      progress.update(len(rows), note=f"{batch.id} acc {100 * acc:.0f}%")
  return kept(records, keys), s.label
