"""Batch streams whose batch i is a pure function of (settings, i): their whole iterator state is i.

`IndexedBatches` gives such a stream the trainer's iterator interface (`next`, `save(directory)`,
`restore(directory)`, as meta_rfft/data/pipeline.py's BatchIterator has): the state file holds the index and the
settings that shape the batches (`settings()`), and a restore into a stream with other settings is refused,
naming them.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from meta_rfft import io_paths


class StreamMismatch(ValueError):
  """A saved iterator position from another data stream than this run's: the config changed, and the checkpoint
  holding it is good (the trainer refuses the resume and moves nothing)."""


class IndexedBatches:
  STATE_FILE = "indexed_iterator.json"  # subclasses name their own

  def __init__(self):
    self.index = 0

  def batch_at(self, index: int) -> dict[str, np.ndarray]:
    raise NotImplementedError

  def settings(self) -> dict[str, Any]:
    """What must match for a saved position to mean the same batches."""
    raise NotImplementedError

  def __iter__(self):
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    batch = self.batch_at(self.index)
    self.index += 1
    return batch

  def save(self, directory: str) -> None:
    io_paths.write_text(io_paths.resolve(directory) / self.STATE_FILE,
                        json.dumps({"index": self.index, **self.settings()}))

  def restore(self, directory: str) -> None:
    path = io_paths.resolve(directory) / self.STATE_FILE
    if not path.exists():
      raise FileNotFoundError(f"no iterator state at {path}")
    state = json.loads(path.read_text())
    saved = {k: state.get(k) for k in self.settings()}
    if saved != self.settings():
      raise StreamMismatch(f"{path}: saved with {saved}, this run uses {self.settings()}")
    self.index = int(state["index"])
