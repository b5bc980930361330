"""Shared by the trainer tests: a tiny run config (2 layers, hidden 32, random-token batches)."""
from __future__ import annotations

import ml_collections

from meta_rfft.config.defaults import model_section, tiny_arch
from meta_rfft.train.config import base_config

VOCAB = 64
SEQ_LEN = 32
BATCH = 8

# The same settings as command-line overrides of configs/rf_pretrain.py:tiny (for subprocess runs).
TINY_OVERRIDES = [
    f"--config.model.arch.vocab_size={VOCAB}", "--config.model.arch.hidden_size=32",
    "--config.model.arch.num_hidden_layers=2", "--config.model.arch.intermediate_size=64",
    "--config.train.data_source=synthetic", f"--config.data.seq_len={SEQ_LEN}",
    f"--config.train.batch_size={BATCH}", "--config.optim.learning_rate=0.003", "--config.optim.warmup_steps=2",
]


def tiny_config(**sections) -> ml_collections.ConfigDict:
  """base_config with the tiny model; `sections` like train={"steps": 4} override fields."""
  c = base_config()
  c.model = model_section(**tiny_arch(VOCAB, hidden_size=32, layers=2, heads=4, kv_heads=2, intermediate_size=64))
  c.train.data_source = "synthetic"
  c.data.seq_len = SEQ_LEN
  c.train.batch_size = BATCH
  c.optim.learning_rate = 3e-3
  c.optim.warmup_steps = 2
  c.eval.batches = 2
  c.log_every = 1
  for section, values in sections.items():
    for k, v in values.items():
      c[section][k] = v
  return c
