"""The recall corpus: generic text that teaches a from-scratch base model to copy values from its context.

A pretrained LLM, the paper's starting point, can already copy: a number, a list or a string seen earlier in
its context is repeated exactly, however long. A model built from random weights cannot, and every
rule-following trace is mostly such copies (each recited value was written a few lines before), so a small
model trained from scratch on traces spends its whole budget learning to copy, and copies only as far as its
traces were long. The recall corpus gives the base model that skill first, for every arm alike: it holds no
rule, loop or trace, only values to remember and recall.

An example (its prompt, then the target the loss is on):

    Remember the values.
    b = [3, 0, 0, 1, 7]
    wq = 48213
    s = 'ALLP'
    Recall.
    wq = 48213
    b = [3, 0, 0, 1, 7]

Values are integers, lists of digits, of numbers below 100 or of bits, and strings over small alphabets, of
1 to `max_length` elements: low-entropy lists and strings can only be copied by position, not by matching a
few tokens. Example k of the stream is a pure function of (seed, k); `RecallBatches` packs them into rows with
the data pipeline's packer, and its whole state is the number of batches served.
"""
from __future__ import annotations

import string

import jax
import numpy as np
import seqio

from meta_rfft.data import packing
from meta_rfft.data.indexed_stream import IndexedBatches
PROMPT_HEAD, RECALL_HEAD = "Remember the values.", "Recall."
_ALPHABETS = ("AB", "APL", "01", "abc", string.ascii_lowercase, string.ascii_uppercase[:6])


def _value(rng: np.random.Generator, length: int) -> str:
  kind = int(rng.integers(0, 6))
  if kind == 0:
    return str(int(rng.integers(1, 10))) + "".join(str(d) for d in rng.integers(0, 10, length - 1))
  if kind in (1, 2, 3):
    high = (10, 100, 2)[kind - 1]
    return "[" + ", ".join(str(int(v)) for v in rng.integers(0, high, length)) + "]"
  alphabet = _ALPHABETS[int(rng.integers(0, len(_ALPHABETS)))]
  return repr("".join(alphabet[int(i)] for i in rng.integers(0, len(alphabet), length)))


def _name(rng: np.random.Generator, taken: set[str]) -> str:
  while True:
    name = "".join(string.ascii_lowercase[int(i)] for i in rng.integers(0, 26, int(rng.integers(1, 5))))
    if name not in taken and name not in ("if", "in", "is", "or", "and", "not", "for", "def"):
      taken.add(name)
      return name


def example(seed: int, index: int, max_length: int) -> tuple[str, str]:
  """Example `index` of the stream of `seed`: (prompt, target)."""
  rng = np.random.default_rng([seed, index])
  taken: set[str] = set()
  # Lengths spread evenly on a log scale, so that short values (most of what a trace copies) stay common.
  lengths = np.unique(np.round(np.exp(rng.uniform(0, np.log(max_length), 3))).astype(int)).tolist()
  values = [(_name(rng, taken), _value(rng, int(n))) for n in lengths + [int(rng.integers(1, 6))]]
  recalled = [values[int(i)] for i in rng.permutation(len(values))[:int(rng.integers(2, len(values) + 1))]]
  prompt = "\n".join([PROMPT_HEAD] + [f"{k} = {v}" for k, v in values] + [RECALL_HEAD, ""])
  return prompt, "\n".join(f"{k} = {v}" for k, v in recalled)


class RecallBatches(IndexedBatches):
  """Packed batches of the recall corpus in the batch contract (packing.KEYS); resumable by batch index.

  Batch i draws its examples from the stream at i * rows * (seq_len // 8 + 8) onward (more examples than its
  rows can hold: an example has more than 8 tokens): every batch is a pure function of (seed, i), so a restored
  iterator continues exactly and batches never share an example."""

  STATE_FILE = "recall_iterator.json"

  def __init__(self, vocab: seqio.Vocabulary, batch_size: int, seq_len: int, *, max_length: int = 30,
               seed: int = 0, positions: str = "contiguous", position_range: int = 0):
    if max_length < 1:
      raise ValueError(f"config.data.recall_max_length must be >= 1, got {max_length}")
    self.vocab, self.batch_size, self.seq_len = vocab, batch_size, seq_len
    self.max_length, self.seed = max_length, seed
    self.positions, self.position_range = positions, position_range
    super().__init__()

  def settings(self) -> dict:
    return {"seed": self.seed, "max_length": self.max_length}

  def batch_at(self, index: int) -> dict[str, np.ndarray]:
    rows_wanted = self.batch_size * jax.process_count()
    first_row = jax.process_index() * self.batch_size
    packer = packing.Packer(self.seq_len, self.vocab.pad_id, pack=True, bins=4, positions=self.positions,
                            position_range=self.position_range, seed=self.seed, stream=index)
    bos = [] if self.vocab.bos_id is None else [self.vocab.bos_id]
    rows: list[dict[str, np.ndarray]] = []
    k = index * rows_wanted * (self.seq_len // 8 + 8)
    while len(rows) < rows_wanted:
      prompt, target = example(self.seed, k, self.max_length)
      k += 1
      p, t = bos + list(self.vocab.encode(prompt)), list(self.vocab.encode(target)) + [self.vocab.eos_id]
      seq = np.asarray(p + t, np.int32)
      if len(seq) - 1 > self.seq_len:
        raise ValueError(f"a recall example of {len(seq) - 1} tokens does not fit data.seq_len={self.seq_len}; "
                         "lower config.data.recall_max_length or raise seq_len")
      weights = (np.arange(len(seq) - 1) >= len(p) - 1).astype(np.float32)
      rows.extend(packer.add({"input_tokens": seq[:-1], "target_tokens": seq[1:], "loss_weights": weights}))
    rows = rows[:rows_wanted][first_row:first_row + self.batch_size]
    return {key: np.stack([r[key] for r in rows]) for key in packing.KEYS}
