"""Position ids of a sequence: contiguous (0, 1, ..., n-1) or randomized.

Randomized positions (Ruoss et al. 2023, "Randomized Positional Encodings Boost Length Generalization of
Transformers"): each sequence of n tokens takes as its position ids a sorted random subset of n distinct
integers from [0, position_range). With RoPE only the differences between ids matter, so a model trained this
way has seen every relative distance up to position_range, including the large ones a long test input
produces, while its training sequences stay short.

The draw is a pure function of an integer key (the caller's seed and the sequence's place in its stream), so
the same key gives the same ids on every machine and after a resume. Decoding draws the ids of a whole
sequence (prompt and the most tokens it may generate) up front, the same way: `sequence_positions`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

MODES = ("contiguous", "random")


def check(mode: str, position_range: int, where: str = "config.data") -> None:
  """Raises naming `<where>.positions` / `<where>.position_range` for an unknown mode or a missing range."""
  if mode not in MODES:
    raise ValueError(f"{where}.positions={mode!r} unknown; choose from {MODES}")
  if mode == "random" and int(position_range) < 2:
    raise ValueError(f"{where}.positions='random' needs {where}.position_range (the ids are drawn from "
                     f"[0, position_range)), got {position_range}")


def random_positions(n: int, position_range: int, key: Sequence[int]) -> np.ndarray:
  """A sorted random subset of n distinct ids from [0, position_range), int32, determined by `key`."""
  if n > position_range:
    raise ValueError(f"a sequence of {n} tokens needs {n} distinct position ids, more than position_range="
                     f"{position_range} offers; raise position_range")
  rng = np.random.default_rng([int(k) for k in key])
  return np.sort(rng.choice(position_range, size=n, replace=False)).astype(np.int32)


def sequence_positions(mode: str, n: int, position_range: int, key: Sequence[int]) -> np.ndarray:
  """The position ids of a sequence of n tokens under `mode` (int32 [n])."""
  if mode == "contiguous":
    return np.arange(n, dtype=np.int32)
  if mode == "random":
    return random_positions(n, position_range, key)
  raise ValueError(f"positions mode {mode!r} unknown; choose from {MODES}")
