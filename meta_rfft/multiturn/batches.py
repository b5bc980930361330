"""The multi-turn batch iterator: conversations -> packed rows, by the single-pass or the N-pass method.

Yields dicts of numpy arrays [batch_size, seq_len] with the batch contract's keys (input_tokens,
target_tokens, loss_weights, segment_ids, positions) and, for `single_pass`, the visibility ids `turn_ids` and
`block_kinds` (the trainer passes them to the model as `Visibility(ids, rule=layout.RULE_NAME)`).

Both methods train on exactly the same conversations and tokens: a conversation whose single-pass row does not
fit `seq_len` is dropped in both (and counted in a logged warning); N-pass examples are never longer than the
conversation's single-pass row. Examples are placed in order, each into the first row with room; a batch ends
at the first example that does not fit, or at the end of an epoch. The order is a per-epoch permutation of
this host's share of the conversations (conversation i belongs to process i % process_count), so the whole
iterator state is (epoch, conversation index, example index) and `save`/`restore` resume exactly.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Sequence

import numpy as np

from meta_rfft.data.indexed_stream import StreamMismatch
from meta_rfft.multiturn import token_layout as layout
from meta_rfft.multiturn.conversation import read_jsonl
from meta_rfft.multiturn.packing import RowPacker
from meta_rfft.multiturn.tokenize import tokenize_conversation

METHODS = ("single_pass", "n_pass")
STATE_FILE = "multiturn_iterator.json"


def examples_of(turns: Sequence[layout.TokenTurn], method: str) -> list[dict[str, np.ndarray]]:
  if method == "single_pass":
    return [layout.single_pass_example(turns)]
  if method == "n_pass":
    return layout.n_pass_examples(turns)
  raise ValueError(f"config.data.multi_turn: unknown method {method!r}; choose from {METHODS}")


def batch_keys(method: str) -> tuple[str, ...]:
  return layout.BASE_KEYS + (layout.VISIBILITY_KEYS if method == "single_pass" else ())


class MultiTurnBatches:
  """Infinite (or, with repeat=False, one-epoch) iterator of packed multi-turn batches."""

  def __init__(self, conversations: Sequence[Sequence[layout.TokenTurn]], method: str, batch_size: int,
               seq_len: int, *, seed: int = 0, shuffle: bool = True, repeat: bool = True,
               process_index: int = 0, process_count: int = 1, source: str = "conversations"):
    if method not in METHODS:
      raise ValueError(f"config.data.multi_turn: unknown method {method!r}; choose from {METHODS}")
    if batch_size < 1 or seq_len < 2:
      raise ValueError(f"multi-turn batches need batch_size >= 1 and seq_len >= 2, got {batch_size}, "
                       f"{seq_len}")
    self.method, self.batch_size, self.seq_len = method, batch_size, seq_len
    self.seed, self.shuffle, self.repeat = seed, shuffle, repeat
    self.keys = batch_keys(method)
    mine = [c for i, c in enumerate(conversations) if i % process_count == process_index]
    self.conversations = [c for c in mine if layout.single_pass_length(c) <= seq_len]
    self.dropped = len(mine) - len(self.conversations)
    if self.dropped:
      logging.warning("%s: dropped %d of %d conversations longer than seq_len=%d in the single-pass layout "
                      "(dropped for both methods, so that they train on the same data)",
                      source, self.dropped, len(mine), seq_len)
    if not self.conversations:
      raise ValueError(f"{source}: no conversation fits seq_len={seq_len} for process {process_index} of "
                       f"{process_count} (had {len(mine)})")
    self.epoch, self.conv, self.example = 0, 0, 0
    self._order_epoch, self._order = None, None
    self._cached_index, self._cached = None, None

  def order(self) -> np.ndarray:
    if self._order_epoch != self.epoch:
      n = len(self.conversations)
      self._order = (np.random.default_rng([self.seed, self.epoch]).permutation(n) if self.shuffle
                     else np.arange(n))
      self._order_epoch = self.epoch
    return self._order

  def _examples(self, index: int) -> list[dict[str, np.ndarray]]:
    # The conversation being placed is asked for once per example: lay it out once.
    if self._cached_index != index:
      self._cached = examples_of(self.conversations[index], self.method)
      self._cached_index = index
    return self._cached

  def __iter__(self):
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    if not self.repeat and self.epoch > 0:
      raise StopIteration
    packer = RowPacker(self.keys, self.batch_size, self.seq_len)
    while True:
      examples = self._examples(int(self.order()[self.conv]))
      example = examples[self.example]
      if not packer.fits([example["input_tokens"].size]):
        if packer.empty:  # cannot happen: every example is at most seq_len long
          n = example["input_tokens"].size
          raise AssertionError(f"example of {n} tokens does not fit an empty batch")
        break
      packer.add({k: example[k] for k in self.keys})
      self.example += 1
      if self.example == len(examples):
        self.example, self.conv = 0, self.conv + 1
        if self.conv == len(self.conversations):
          self.conv, self.epoch = 0, self.epoch + 1
          break  # a batch never spans two epochs (so a one-epoch batch holds each conversation once)
    return packer.batch

  def state(self) -> dict:
    return {"epoch": self.epoch, "conversation": self.conv, "example": self.example, "seed": self.seed,
            "method": self.method, "num_conversations": len(self.conversations)}

  def save(self, directory: str) -> None:
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, STATE_FILE + ".tmp")
    with open(tmp, "w") as f:
      json.dump(self.state(), f)
    os.replace(tmp, os.path.join(directory, STATE_FILE))

  def restore(self, directory: str) -> None:
    path = os.path.join(directory, STATE_FILE)
    with open(path) as f:
      state = json.load(f)
    mine = self.state()
    for key in ("seed", "method", "num_conversations"):
      if state.get(key) != mine[key]:
        raise StreamMismatch(f"{path}: saved with {key}={state.get(key)!r}, this run has {mine[key]!r}")
    self.epoch, self.conv = int(state["epoch"]), int(state["conversation"])
    self.example = int(state["example"])


def read_conversations(path: str, encoder) -> list[list[layout.TokenTurn]]:
  """Reads, validates and tokenizes a conversations JSONL file (see conversation.py)."""
  return [tokenize_conversation(c, encoder) for c in read_jsonl(path)]


def from_data_config(data_cfg, encoder, batch_size: int, seq_len: int, *, seed: int = 0,
                     process_index: int = 0, process_count: int = 1) -> MultiTurnBatches:
  """The iterator named by `config.data.multi_turn` over `config.data.conversations`."""
  method = data_cfg.get("multi_turn", "")
  if method not in METHODS:
    raise ValueError(f"config.data.multi_turn={method!r}: choose from {METHODS}")
  path = data_cfg.get("conversations", "")
  if not path:
    raise ValueError("config.data.conversations: set it to a conversations JSONL file "
                     "(python -m meta_rfft.multiturn generate ...) when config.data.multi_turn is set")
  return MultiTurnBatches(read_conversations(path, encoder), method, batch_size, seq_len, seed=seed,
                          process_index=process_index, process_count=process_count, source=path)
