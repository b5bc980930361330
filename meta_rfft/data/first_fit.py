"""First fit, the placement rule of both packers: the mixture's streaming `Packer` (meta_rfft/data/packing.py)
and the multi-turn batches' `RowPacker` (meta_rfft/multiturn/packing.py). Kept free of TensorFlow so that the
multi-turn side can use it without loading the tf.data pipeline.
"""
from __future__ import annotations

from typing import Sequence


def first_fit(used: Sequence[int], n: int, capacity: int) -> int | None:
  """The first row, of rows holding `used` tokens each, with room for `n` more tokens; None if none has."""
  return next((i for i, u in enumerate(used) if u + n <= capacity), None)
