"""Grouped-query attention with packing, custom visibility and an optional KV cache.

K/V are never repeated in memory: queries are reshaped to [kv_heads, group] and contracted against the shared
K/V heads. The softmax itself (float32 scores, masking, the lean backward pass) is attention_core.py.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx, struct

from meta_rfft.model.attention_core import grouped_attention
from meta_rfft.model.config import ModelConfig
from meta_rfft.model.layers import Projection
from meta_rfft.model.rope import apply_rope, inverse_frequencies
from meta_rfft.sharding.rules import constrain


@struct.dataclass
class KVCache:
  """Keys/values of every layer for the slots written so far, for incremental decoding.

  k, v: [layers, B, S, kv_heads, head_dim]; segment_ids/positions: [B, S] of the written slots (segment 0 =
  empty or padding); end: the next slot to write (shared by all rows: prompts are left-padded).
  """
  k: jax.Array
  v: jax.Array
  segment_ids: jax.Array
  positions: jax.Array
  end: jax.Array

  @classmethod
  def empty(cls, cfg: ModelConfig, batch: int, max_len: int, dtype=None) -> "KVCache":
    dtype = dtype or jnp.dtype(cfg.dtype)
    shape = (cfg.num_layers, batch, max_len, cfg.num_kv_heads, cfg.head_dim)
    return cls(k=jnp.zeros(shape, dtype), v=jnp.zeros(shape, dtype),
               segment_ids=jnp.zeros((batch, max_len), jnp.int32),
               positions=jnp.zeros((batch, max_len), jnp.int32), end=jnp.zeros((), jnp.int32))

  @property
  def max_len(self) -> int:
    return self.k.shape[2]


class Attention(nnx.Module):

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    e, n, k, d = cfg.hidden_size, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
    common = dict(num_layers=cfg.num_layers, std=cfg.initializer_range, param_dtype=jnp.dtype(cfg.param_dtype),
                  dtype=jnp.dtype(cfg.dtype), rngs=rngs)
    self.q_proj = Projection((e,), (n, d), ("embed",), ("q_heads", "head_dim"), use_bias=cfg.qkv_bias, **common)
    self.k_proj = Projection((e,), (k, d), ("embed",), ("kv_heads", "head_dim"), use_bias=cfg.qkv_bias, **common)
    self.v_proj = Projection((e,), (k, d), ("embed",), ("kv_heads", "head_dim"), use_bias=cfg.qkv_bias, **common)
    self.o_proj = Projection((n, d), (e,), ("q_heads", "head_dim"), ("embed",), use_bias=cfg.o_bias, **common)
    self.num_heads, self.num_kv_heads, self.head_dim = n, k, d
    self.sliding_window = cfg.sliding_window
    # A tuple of floats (exact float32 values): static module data, hashable for the graph definition.
    self.inv_freq = tuple(float(f) for f in inverse_frequencies(cfg.rope, d))

  def __call__(self, x, positions, mask, layer_cache: tuple[jax.Array, jax.Array] | None = None,
               write_slot: jax.Array | None = None):
    """x [B, L, E]; mask bool [B, L, S] (S = L, or the cache length). With `layer_cache`, writes this call's
    keys/values at `write_slot` and attends over all cached slots; returns the updated (k, v) of this layer."""
    q = apply_rope(self.q_proj(x), positions, self.inv_freq)
    k = apply_rope(self.k_proj(x), positions, self.inv_freq)
    v = self.v_proj(x)
    q = constrain(q, ("act_batch", "act_length", "act_heads", None))
    k = constrain(k, ("act_batch", "act_length", "act_kv_heads", None))
    v = constrain(v, ("act_batch", "act_length", "act_kv_heads", None))
    if layer_cache is None:
      keys, values, new_layer_cache = k, v, None
    else:
      keys = jax.lax.dynamic_update_slice_in_dim(layer_cache[0], k.astype(layer_cache[0].dtype), write_slot, 1)
      values = jax.lax.dynamic_update_slice_in_dim(layer_cache[1], v.astype(layer_cache[1].dtype), write_slot, 1)
      new_layer_cache = (keys, values)
    out = self._attend(q, keys.astype(q.dtype), values.astype(q.dtype), mask)
    return self.o_proj(out), new_layer_cache

  def _attend(self, q, k, v, mask):
    b, length, n, d = q.shape
    q = q.reshape(b, length, self.num_kv_heads, n // self.num_kv_heads, d)
    return grouped_attention(q, k, v, mask, d ** -0.5).reshape(b, length, n, d)
