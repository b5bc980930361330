"""Random-token batches in the batch format, for throughput benchmarks and tests that need no task data.

Each row packs 1-3 examples of random length; each example has a prompt (loss weight 0) and a target part
(loss weight 1); the rest of the row is padding (segment 0). Global batch `i` is a pure function of (seed, i)
and each process keeps its own rows of it, so the iterator's whole state is the index `i` whatever the process
count: `save`/`restore` have the interface of the data pipeline's iterator (meta_rfft/data/pipeline.py) and
resume exactly.
"""
from __future__ import annotations

import jax
import numpy as np

from meta_rfft.data.indexed_stream import IndexedBatches


class RandomTokenBatches(IndexedBatches):

  STATE_FILE = "synthetic_iterator.json"

  def __init__(self, batch_size: int, seq_len: int, vocab_size: int, *, seed: int = 0, first_token: int = 3):
    if seq_len < 8:
      raise ValueError(f"synthetic batches need seq_len >= 8, got {seq_len}")
    self.batch_size, self.seq_len, self.vocab_size = batch_size, seq_len, vocab_size
    self.seed, self.first_token = seed, first_token  # ids below first_token are left for pad/BOS/EOS
    super().__init__()

  def settings(self) -> dict:
    return {"seed": self.seed}

  def batch_at(self, index: int) -> dict[str, np.ndarray]:
    # The global batch `index` is a pure function of (seed, index) and each process keeps its own rows, so the
    # data does not depend on how many processes share the run (and a checkpoint resumes on another count).
    rng = np.random.default_rng([self.seed, index])
    b, length = self.batch_size * jax.process_count(), self.seq_len
    out = {k: np.zeros((b, length), np.int32) for k in ("input_tokens", "target_tokens", "segment_ids",
                                                         "positions")}
    out["loss_weights"] = np.zeros((b, length), np.float32)
    for row in range(b):
      start = 0
      for seg in range(1, int(rng.integers(1, 4)) + 1):
        n = int(rng.integers(4, max(5, length // 2)))
        n = min(n, length - start)
        if n < 4:
          break
        seq = rng.integers(self.first_token, self.vocab_size, n + 1).astype(np.int32)
        prompt = int(rng.integers(1, n - 1))
        sl = slice(start, start + n)
        out["input_tokens"][row, sl] = seq[:-1]
        out["target_tokens"][row, sl] = seq[1:]
        out["loss_weights"][row, start + prompt - 1:start + n] = 1.0
        out["segment_ids"][row, sl] = seg
        out["positions"][row, sl] = np.arange(n)
        start += n
    first = jax.process_index() * self.batch_size
    return {k: v[first:first + self.batch_size] for k, v in out.items()}
