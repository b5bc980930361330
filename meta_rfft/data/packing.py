"""Feature conversion to the batch layout (`KEYS`, what the train step reads: BATCH_KEYS in
meta_rfft/train/step.py) and first-fit packing into rows.

An example's token sequence is `[BOS if the vocabulary has one] + prompt + targets + [EOS]` (with a chat template,
the template's own rendering, ending with its end-of-turn token: meta_rfft/data/example_codec.py); the model reads
`input_tokens = seq[:-1]` and predicts `target_tokens = seq[1:]`; `loss_weights` is 1 exactly where the
predicted token is a target token or the final EOS. Conversion runs in the tf.data graph (`lm_example_fn`).

Packing runs in Python over the tf.data stream (`Packer`): each example goes to the first open row with
room for it; when none has room, the fullest open row is emitted and a new one opened. Each example's
position ids restart in its own segment: 0..n-1, or with `positions="random"` a sorted random subset of
[0, position_range) drawn from (seed, rows emitted so far, segment) (meta_rfft/data/positions.py). An example longer
than the row is dropped and counted (logged at the 1st, 2nd, 4th, 8th ... drop), never truncated: a cut
target would teach a wrong answer. The packer's open rows are part of the iterator state (`state` /
`load_state`), so a restored stream continues exactly.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import tensorflow as tf

from meta_rfft.data import positions as positions_lib
from meta_rfft.data.first_fit import first_fit

KEYS = ("input_tokens", "target_tokens", "loss_weights", "segment_ids", "positions")
log = logging.getLogger(__name__)


def lm_example_fn(codec):
  """tf.data map fn: {inputs, targets} token ids -> {input_tokens, target_tokens, loss_weights}. `codec`
  (meta_rfft/data/example_codec.py) says what frames them: BOS and EOS for plain prompts, nothing for a chat
  template's ids, which are complete."""
  bos, eos = list(codec.frame_bos), list(codec.frame_eos)

  def fn(ex):
    prompt = tf.concat([tf.constant(bos, tf.int32), tf.cast(ex["inputs"], tf.int32)], 0)
    seq = tf.concat([prompt, tf.cast(ex["targets"], tf.int32), tf.constant(eos, tf.int32)], 0)
    n = tf.size(seq) - 1
    # Position j predicts seq[j + 1]; that token is target-side when j + 1 >= len(prompt).
    weights = tf.cast(tf.range(n) >= tf.size(prompt) - 1, tf.float32)
    out = {"input_tokens": seq[:-1], "target_tokens": seq[1:], "loss_weights": weights}
    if "task" in ex:
      out["task"] = ex["task"]
    return out
  return fn


class Packer:
  """First-fit packing of variable-length examples into rows of `seq_len` (or one example a row)."""

  def __init__(self, seq_len: int, pad_id: int, pack: bool = True, bins: int = 8, positions: str = "contiguous",
               position_range: int = 0, seed: int = 0, stream: int = 0):
    """`positions`, `position_range`: how each segment's position ids are drawn (positions.py); `seed` and
    `stream` (e.g. the process index) key the random draw together with the row's index in the stream."""
    if seq_len < 2:
      raise ValueError(f"data.seq_len must be at least 2, got {seq_len}")
    if bins < 1:
      raise ValueError(f"data.pack_bins must be at least 1, got {bins}")
    positions_lib.check(positions, position_range)
    if positions == "random" and position_range < seq_len:
      raise ValueError(f"config.data.position_range={position_range} is below data.seq_len={seq_len}: a full row "
                       "could not get distinct position ids")
    self.seq_len, self.pad_id = seq_len, pad_id
    self.bins = bins if pack else 1
    self.pack = pack
    self.positions, self.position_range = positions, int(position_range)
    self.key = (int(seed), int(stream))
    self.rows_emitted = 0  # part of the state: the random position ids of row r are keyed on r
    self.open: list[list[dict[str, np.ndarray]]] = []  # examples of each open row
    self.dropped = 0
    self.dropped_by_task: dict[str, int] = {}

  def _used(self, row) -> int:
    return sum(len(e["input_tokens"]) for e in row)

  def add(self, example: dict[str, Any]) -> list[dict[str, np.ndarray]]:
    """Adds one converted example; returns the rows this completes (zero, one or two)."""
    n = len(example["input_tokens"])
    if n > self.seq_len:
      self.dropped += 1
      task = example.get("task", b"?")
      task = task.decode() if isinstance(task, bytes) else str(task)
      self.dropped_by_task[task] = self.dropped_by_task.get(task, 0) + 1
      if self.dropped & (self.dropped - 1) == 0:
        log.warning("dropped %d examples longer than seq_len=%d so far (latest: task %s, %d tokens); per "
                    "task: %s", self.dropped, self.seq_len, task, n, self.dropped_by_task)
      return []
    ex = {k: np.asarray(example[k]) for k in ("input_tokens", "target_tokens", "loss_weights")}
    done = []
    i = first_fit([self._used(row) for row in self.open], n, self.seq_len) if self.pack else None
    if i is not None:
      self.open[i].append(ex)
      if self._used(self.open[i]) == self.seq_len:
        done.append(self._finish(self.open.pop(i)))
      return done
    if len(self.open) >= self.bins:
      fullest = max(range(len(self.open)), key=lambda i: self._used(self.open[i]))
      done.append(self._finish(self.open.pop(fullest)))
    self.open.append([ex])
    if not self.pack or n == self.seq_len:
      done.append(self._finish(self.open.pop()))
    return done

  def flush(self) -> list[dict[str, np.ndarray]]:
    """Emits every open row (end of a finite stream)."""
    rows = [self._finish(row) for row in self.open]
    self.open = []
    return rows

  def empty_row(self) -> dict[str, np.ndarray]:
    return self._finish([])

  def _finish(self, row: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    L = self.seq_len
    out = {"input_tokens": np.full(L, self.pad_id, np.int32),
           "target_tokens": np.full(L, self.pad_id, np.int32),
           "loss_weights": np.zeros(L, np.float32), "segment_ids": np.zeros(L, np.int32),
           "positions": np.zeros(L, np.int32)}
    at = 0
    for seg, ex in enumerate(row, start=1):
      n = len(ex["input_tokens"])
      out["input_tokens"][at:at + n] = ex["input_tokens"]
      out["target_tokens"][at:at + n] = ex["target_tokens"]
      out["loss_weights"][at:at + n] = ex["loss_weights"]
      out["segment_ids"][at:at + n] = seg
      out["positions"][at:at + n] = positions_lib.sequence_positions(
          self.positions, n, self.position_range, (*self.key, self.rows_emitted, seg))
      at += n
    if row:  # empty filler rows draw nothing, so they do not shift the keys of the rows after them
      self.rows_emitted += 1
    return out

  def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(JSON-able metadata, arrays) describing the open rows and drop counts."""
    arrays = {}
    sizes = []
    for b, row in enumerate(self.open):
      sizes.append(len(row))
      for e, ex in enumerate(row):
        for k, v in ex.items():
          arrays[f"open_{b}_{e}_{k}"] = v
    return {"open_sizes": sizes, "dropped": self.dropped, "dropped_by_task": self.dropped_by_task,
            "rows_emitted": self.rows_emitted}, arrays

  def load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    self.open = [[{k: arrays[f"open_{b}_{e}_{k}"] for k in ("input_tokens", "target_tokens", "loss_weights")}
                  for e in range(size)] for b, size in enumerate(meta["open_sizes"])]
    self.dropped = int(meta["dropped"])
    self.dropped_by_task = dict(meta["dropped_by_task"])
    self.rows_emitted = int(meta.get("rows_emitted", 0))
