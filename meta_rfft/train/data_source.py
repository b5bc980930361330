"""The trainer's view of its data: a resumable training iterator of host batches and fixed validation batches.

`config.train.data_source` picks where batches come from:
  - "pipeline": the seqio mixture of `config.data` (meta_rfft/data/pipeline.py), the real training data;
  - "synthetic": random tokens in the batch format (synthetic.py), for throughput benchmarks;
  - "recall": the recall corpus (meta_rfft/data/recall.py), generic copying text that gives a from-scratch base
    model the copying a pretrained LLM already has.
Both iterators have `save(directory)` / `restore(directory)`, which the checkpoint's `data` item calls.
"""
from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Callable, Iterator

import jax
import numpy as np

from meta_rfft.data import pipeline
from meta_rfft.data.example_codec import codec_of
from meta_rfft.data.model_vocab import model_vocabulary
from meta_rfft.data.recall import RecallBatches
from meta_rfft.model.config import ModelConfig
from meta_rfft.multiturn import train_data
from meta_rfft.train.random_tokens import RandomTokenBatches

SOURCES = ("pipeline", "synthetic", "recall")
# Synthetic validation batches are drawn with a seed no training stream uses.
_VALIDATION_SEED_OFFSET = 1_000_003


@dataclasses.dataclass
class Data:
  train: Any  # iterator of host batches (dict of numpy [host_batch, seq_len]) with save/restore
  validation: Callable[[], Iterator[dict]]  # a fresh pass over the same held-out batches at every call
  seq_len: int

  def example_batch(self) -> dict[str, np.ndarray]:
    return next(iter(self.validation()))


def _source(config) -> str:
  source = config.train.data_source
  if source not in SOURCES:
    raise ValueError(f"config.train.data_source={source!r} unknown; choose from {SOURCES}")
  return source


def make(config, model_cfg: ModelConfig, host_batch: int, hf_dir: str = "") -> Data:
  """`hf_dir`: the HF folder the run started from; its tokenizer is used when `config.data.vocab` is ""."""
  source = _source(config)
  seq_len = int(config.data.seq_len)
  n_val = int(config.eval.batches)
  if source == "synthetic":
    seed = int(config.data.seed)
    train = RandomTokenBatches(host_batch, seq_len, model_cfg.arch.vocab_size, seed=seed)
    held_out = RandomTokenBatches(host_batch, seq_len, model_cfg.arch.vocab_size, seed=seed + _VALIDATION_SEED_OFFSET)
    return Data(train, lambda: (held_out.batch_at(i) for i in range(n_val)), seq_len)
  if source == "recall" or config.data.get("multi_turn"):
    _plain_prompts(config, "config.train.data_source=recall" if source == "recall" else "config.data.multi_turn")
  if source == "recall":
    return _recall(config, model_cfg, host_batch, hf_dir, seq_len, n_val)
  if config.data.get("multi_turn"):  # multi-turn conversations: meta_rfft/multiturn/train_data.py
    return train_data.make(config, model_cfg, host_batch, hf_dir, Data)
  return _pipeline(config, model_cfg, host_batch, hf_dir, seq_len, n_val)


def example_batch(config, model_cfg: ModelConfig, host_batch: int, hf_dir: str = "") -> dict[str, np.ndarray]:
  """One host batch with the keys, dtypes and shape the configured source yields, for compiling the step.

  The mixture and synthetic sources yield exactly the batch contract (step.BATCH_KEYS at config.data.seq_len), so
  no data is read: `compile_only` works without the datasets, the tokenizer or the conversations. Multi-turn
  batches carry extra visibility ids whose set depends on the method, so that source is built and asked."""
  if _source(config) == "pipeline" and config.data.get("multi_turn"):
    return make(config, model_cfg, host_batch, hf_dir).example_batch()
  return RandomTokenBatches(host_batch, int(config.data.seq_len), model_cfg.arch.vocab_size, seed=0).batch_at(0)


def _plain_prompts(config, why: str) -> None:
  """Sources with formats of their own: recorded as plain, so that an evaluation does not render chats."""
  if "chat_template" not in config.data:
    return
  if config.data.chat_template == "hf":
    raise ValueError(f"config.data.chat_template='hf' does not apply to {why}, whose texts carry their own "
                     "format; use 'none'")
  config.data.chat_template = "none"


def _vocabulary(config, model_cfg: ModelConfig, hf_dir: str):
  """config.data.vocab (or the checkpoint's tokenizer), checked against the model's embedding and positions."""
  vocab = model_vocabulary(config.data.vocab, hf_dir, model_cfg.arch.vocab_size)
  if config.data.get("positions") == "random" and int(config.data.position_range) > model_cfg.arch.max_position_embeddings:
    raise ValueError(f"config.data.position_range={config.data.position_range} exceeds the model's "
                     f"max_position_embeddings={model_cfg.arch.max_position_embeddings}")
  return vocab


def _recall(config, model_cfg: ModelConfig, host_batch: int, hf_dir: str, seq_len: int, n_val: int) -> Data:
  vocab = _vocabulary(config, model_cfg, hf_dir)
  kwargs = dict(max_length=int(config.data.recall_max_length), positions=str(config.data.positions),
                position_range=int(config.data.position_range))
  seed = int(config.data.seed)
  train = RecallBatches(vocab, host_batch, seq_len, seed=seed, **kwargs)
  held_out = RecallBatches(vocab, host_batch, seq_len, seed=seed + _VALIDATION_SEED_OFFSET, **kwargs)
  return Data(train, lambda: (held_out.batch_at(i) for i in range(n_val)), seq_len)


def _pipeline(config, model_cfg: ModelConfig, host_batch: int, hf_dir: str, seq_len: int, n_val: int) -> Data:
  vocab = _vocabulary(config, model_cfg, hf_dir)
  if "chat_template" in config.data:
    # "auto" resolved and kept so in WORKDIR/config.json: what the run trained with, whatever its files become;
    # so is the date of a template that writes one, so that a resume on a later day renders the same prompts.
    codec = codec_of(config.data, vocab)
    config.data.chat_template = codec.mode
    if getattr(codec, "template", None) is not None and codec.template.date:
      config.data.chat_date = codec.template.date
  index, count = jax.process_index(), jax.process_count()
  data_cfg = config.data.to_dict()
  common = dict(seq_len=seq_len, host_batch_size=host_batch, process_index=index, process_count=count,
                seed=int(config.data.seed))
  train = pipeline.make_batch_iterator(data_cfg, vocab, **common)
  cache: list[dict] = []

  def validation():
    # Read once, then the same batches every time. Every process yields exactly n_val batches (empty ones
    # after its shard runs out) so that all of them take part in the same number of eval steps.
    if not cache:
      it = pipeline.make_batch_iterator(data_cfg, vocab, num_epochs=1, shuffle=False, split="validation",
                                        **common)
      for batch in itertools.islice(it, n_val):
        cache.append(batch)
      if not cache:
        raise ValueError(f"config.data: mixture {config.data.mixture!r} has no validation examples")
      while len(cache) < n_val:
        cache.append({k: np.zeros_like(v) for k, v in cache[0].items()})
    return iter(cache)
  return Data(train, validation, seq_len)
