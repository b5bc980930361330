"""Config sections shared by every run config (model, mesh, sharding), so configs stay short.

`model.hf_config` names a HF `config.json` (or folder) to take the architecture from; a from-scratch model
instead spells its architecture in `model.arch` with the same keys a HF config.json has.
"""
from __future__ import annotations

import ml_collections

from meta_rfft.sharding.mesh import DEFAULT_AXES
from meta_rfft.sharding.rules import DEFAULT_RULES


def model_section(**arch) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.hf_config = ""           # path to a HF config.json or folder; empty = use `arch`
  c.arch = ml_collections.ConfigDict(arch) if arch else ml_collections.ConfigDict()
  c.param_dtype = "float32"  # master weights
  c.dtype = "float32"        # compute dtype ("bfloat16" for speed on accelerators)
  c.scan_layers = True
  c.remat_policy = "none"    # none | full | dots | dots_no_batch
  c.custom_grads = True      # the hand-written backward passes (meta_rfft/model/ops.py); False: plain autodiff
  return c


def mesh_section(shape=(1, -1, 1), axes=DEFAULT_AXES) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.shape = tuple(shape)     # one entry may be -1: all remaining devices
  c.axes = tuple(axes)
  # Multi-slice: how many slices (TPU slices / GPU nodes) each axis spans over the data-centre network; then
  # `shape` is per slice. All ones = one slice. See meta_rfft.distributed.make_global_mesh.
  c.dcn_shape = tuple(1 for _ in axes)
  return c


def sharding_section() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # logical axis name -> mesh axis (str), several mesh axes (tuple) or None (replicated)
  c.rules = ml_collections.ConfigDict({k: v for k, v in DEFAULT_RULES.items()})
  return c


def tiny_arch(vocab_size: int, *, hidden_size: int = 128, layers: int = 4, heads: int = 4, kv_heads: int = 2,
              intermediate_size: int = 384, model_type: str = "qwen2") -> dict:
  """A few-million-parameter Qwen2-architecture model for smoke runs and tests on a CPU."""
  return dict(model_type=model_type, vocab_size=vocab_size, hidden_size=hidden_size,
              intermediate_size=intermediate_size, num_hidden_layers=layers, num_attention_heads=heads,
              num_key_value_heads=kv_heads, rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=True,
              max_position_embeddings=4096)
