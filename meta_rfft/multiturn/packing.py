"""Packing per-token examples into fixed-size rows: segment ids 1, 2, ... per example, 0 on padding.

Examples never see each other: the model's base visibility rule only lets a token attend within its own
segment. All per-token keys of the examples are carried into the rows (padding = 0 everywhere). Rows are
chosen by the same first-fit rule as the mixture's packer (meta_rfft/data/first_fit.py).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from meta_rfft.data.first_fit import first_fit

_FLOAT_KEYS = ("loss_weights",)


def _place_all(fill: list[int], lengths: Sequence[int], seq_len: int, open_rows: bool) -> bool:
  """Places `lengths` into rows filled to `fill` (updated in place), first fit, opening new rows if
  `open_rows`; False as soon as one does not fit."""
  for n in lengths:
    row = first_fit(fill, n, seq_len)
    if row is None:
      if not open_rows:
        return False
      fill.append(0)
      row = len(fill) - 1
    fill[row] += n
  return True


def empty_rows(keys: Sequence[str], rows: int, seq_len: int) -> dict[str, np.ndarray]:
  out = {k: np.zeros((rows, seq_len), np.float32 if k in _FLOAT_KEYS else np.int32) for k in keys}
  out["segment_ids"] = np.zeros((rows, seq_len), np.int32)
  return out


class RowPacker:
  """First-fit packing of examples into `rows` rows of `seq_len` slots."""

  def __init__(self, keys: Sequence[str], rows: int, seq_len: int):
    self.keys, self.rows, self.seq_len = tuple(keys), rows, seq_len
    self.batch = empty_rows(self.keys, rows, seq_len)
    self.fill = [0] * rows
    self.segments = [0] * rows
    self.placements: list[tuple[int, int, int]] = []  # (row, start, length) of each added example

  def fits(self, lengths: Sequence[int]) -> bool:
    """Whether all these examples can be placed together (first fit, without placing them)."""
    return _place_all(list(self.fill), lengths, self.seq_len, open_rows=False)

  def add(self, example: dict[str, np.ndarray]) -> None:
    n = example[self.keys[0]].shape[0]
    row = first_fit(self.fill, n, self.seq_len)
    if row is None:
      raise ValueError(f"example of {n} tokens does not fit; rows filled {self.fill} of {self.seq_len}")
    start = self.fill[row]
    for k in self.keys:
      if example[k].shape != (n,):
        raise ValueError(f"example key {k!r} has shape {example[k].shape}, expected ({n},)")
      self.batch[k][row, start:start + n] = example[k]
    self.segments[row] += 1
    self.batch["segment_ids"][row, start:start + n] = self.segments[row]
    self.fill[row] += n
    self.placements.append((row, start, n))

  @property
  def empty(self) -> bool:
    return not any(self.fill)


def pack(examples: Sequence[dict[str, np.ndarray]], seq_len: int, rows: int | None = None
         ) -> tuple[dict[str, np.ndarray], list[tuple[int, int, int]]]:
  """Packs all examples (first fit); `rows=None` uses as many rows as needed.

  Returns the rows and where each example went: (row, start slot, length), in example order.
  """
  if not examples:
    raise ValueError("pack: no examples")
  keys = tuple(examples[0])
  lengths = [e[keys[0]].shape[0] for e in examples]
  too_long = [i for i, n in enumerate(lengths) if n > seq_len]
  if too_long:
    raise ValueError(f"pack: examples {too_long[:5]} are longer than seq_len={seq_len} "
                     f"(lengths {[lengths[i] for i in too_long[:5]]})")
  if rows is None:
    fill: list[int] = []
    _place_all(fill, lengths, seq_len, open_rows=True)
    rows = len(fill)
  packer = RowPacker(keys, rows, seq_len)
  if not packer.fits(lengths):
    raise ValueError(f"pack: {len(examples)} examples ({sum(lengths)} tokens) do not fit {rows} x {seq_len}")
  for e in examples:
    packer.add(e)
  return packer.batch, packer.placements
