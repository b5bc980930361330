"""The run config every training config starts from: model, mesh, sharding, distributed, data, init, adapter,
optim, train, eval, checkpoint. Configs in configs/ change what differs (see configs/rf_pretrain.py).
"""
from __future__ import annotations

import ml_collections

from meta_rfft.config.defaults import mesh_section, model_section, sharding_section, tiny_arch
from meta_rfft.data.config import default_data_config
from meta_rfft.data.vocab import CharVocabulary
from meta_rfft.distributed import default_config as distributed_section
from meta_rfft.model import adapters
from meta_rfft.train import optimizer


def data_section() -> ml_collections.ConfigDict:
  return default_data_config()


def base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.model = model_section()
  c.mesh = mesh_section()
  c.sharding = sharding_section()
  c.distributed = distributed_section()
  c.data = data_section()

  c.init = ml_collections.ConfigDict()
  # A converted HF checkpoint (`python -m meta_rfft.convert hf_to_orbax` output), or a trainer WORKDIR / step
  # folder (adapters folded in): used when WORKDIR has no checkpoint yet. "" = random init from model.arch.
  c.init.checkpoint = ""
  c.init.seed = 0  # random init and LoRA init

  c.adapter = adapters.default_config()
  c.optim = optimizer.default_config()

  c.train = ml_collections.ConfigDict()
  c.train.steps = 100
  c.train.batch_size = 32  # global, over all processes
  c.train.micro_batches = 1  # gradient accumulation: the global batch is split into this many micro-batches
  c.train.data_source = "pipeline"  # pipeline (config.data's seqio mixture) | synthetic (random tokens)
  c.train.visibility_rule = ""  # a meta_rfft.model.visibility rule for batches with extra id keys

  c.eval = ml_collections.ConfigDict()
  c.eval.every = 50  # validation loss every N steps (and at the last step); 0 = never
  c.eval.batches = 4  # held-out batches per validation
  c.eval.early_stopping_patience = 0  # stop after N validations without a new best; 0 = off

  c.checkpoint = ml_collections.ConfigDict()
  c.checkpoint.every = 50  # plus a final save, and one on SIGTERM
  c.checkpoint.keep = 3
  c.checkpoint.async_save = True

  c.log_every = 10  # plain log lines when not on a terminal (metrics.jsonl gets every step regardless)
  c.compile_only = False  # compile the step for the configured mesh, print per-device memory, exit
  c.device_memory_budget = ""  # for compile_only: e.g. "80GB"; "" = the device's own limit
  # for compile_only: compile for this TPU topology instead of the attached devices, e.g. "v5e:16x16" (v5e-256),
  # from any machine with libtpu installed (no TPU needed): a config that does not fit fails before a slice is held
  c.compile_topology = ""
  return c


def tiny_run(c: ml_collections.ConfigDict) -> None:
  """In place: a ~2.3M-parameter Qwen2-architecture model from scratch (hidden 256, 3 layers, 8 heads / 2 KV heads)
  with the character vocabulary, float32, 2048-token rows (RF traces of short instances run to ~1-3k characters),
  batch 2, 12 steps: about a minute and a half on a 2-core CPU, most of it attention over the 2048 positions."""
  c.model = model_section(**tiny_arch(CharVocabulary().vocab_size, hidden_size=256, layers=3, heads=8,
                                      kv_heads=2, intermediate_size=768))
  c.init.checkpoint = ""
  c.data.vocab = "char"
  c.data.seq_len = 2048
  # A small data build (every split, both kinds of task): lengths 1-3, a few examples per length.
  for split, per_length in (("train", 10), ("validation", 2), ("test", 2)):
    for kind in ("rf_pretrain", "heldout"):
      c.data.build.splits[split][kind].lengths = "1-3"
      c.data.build.splits[split][kind].per_length = per_length
  c.train.steps = 12
  c.train.batch_size = 2
  c.eval.every = 6
  c.eval.batches = 1
  c.eval.early_stopping_patience = 0
  c.checkpoint.every = 6
  c.log_every = 2
