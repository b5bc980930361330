"""The trainer's data when `config.data.multi_turn` is set: multi-turn conversations instead of the mixture.

Config keys (config.data): `multi_turn` ("" = off, "single_pass" or "n_pass"), `conversations` (the training
JSONL), `validation_conversations` (held-out JSONL; "" = validate on the first training conversations, in
file order, with a warning), plus the usual `vocab`, `seq_len` and `seed`. With `single_pass` the batches
carry `turn_ids`/`block_kinds` and the trainer's `config.train.visibility_rule` must be the single-pass rule:
it is filled in when empty, and any other value is an error naming the key.
"""
from __future__ import annotations

import logging

import jax

from meta_rfft.data.model_vocab import model_vocabulary
from meta_rfft.multiturn import token_layout as layout
from meta_rfft.multiturn.batches import METHODS, MultiTurnBatches, from_data_config, read_conversations
from meta_rfft.multiturn.tokenize import TextEncoder


def check_visibility_rule(config) -> None:
  method, rule = config.data.multi_turn, config.train.visibility_rule
  if method == "single_pass":
    if not rule:
      config.train.visibility_rule = layout.RULE_NAME
    elif rule != layout.RULE_NAME:
      raise ValueError(f"config.train.visibility_rule={rule!r} but config.data.multi_turn='single_pass' "
                       f"needs {layout.RULE_NAME!r} (or leave it empty)")
  elif method == "n_pass" and rule:
    raise ValueError(f"config.train.visibility_rule={rule!r}: n_pass batches are plain causal; "
                     "leave it empty")


def make(config, model_cfg, host_batch: int, hf_dir: str, data_cls):
  """Builds `data_cls(train, validation, seq_len)` (the trainer's Data) from the multi-turn config keys."""
  dc = config.data
  if dc.multi_turn not in METHODS:
    raise ValueError(f"config.data.multi_turn={dc.multi_turn!r}: choose from {METHODS} "
                     "(or '' for the mixture)")
  check_visibility_rule(config)
  encoder = TextEncoder.from_vocabulary(model_vocabulary(dc.vocab, hf_dir, model_cfg.arch.vocab_size))
  seq_len, seed = int(dc.seq_len), int(dc.seed)
  train = from_data_config(dc, encoder, host_batch, seq_len, seed=seed, process_index=jax.process_index(),
                           process_count=jax.process_count())
  path = dc.get("validation_conversations", "")
  if not path:
    logging.warning("config.data.validation_conversations is empty: validation uses the first training "
                    "conversations of %s", dc.conversations)
    path = dc.conversations
  held_out = MultiTurnBatches(read_conversations(path, encoder), dc.multi_turn, host_batch, seq_len,
                              shuffle=False, process_index=jax.process_index(),
                              process_count=jax.process_count(), source=path)
  n_val = int(config.eval.batches)

  def validation():
    held_out.epoch = held_out.conv = held_out.example = 0  # the same batches at every call
    return (next(held_out) for _ in range(n_val))

  return data_cls(train, validation, seq_len)
