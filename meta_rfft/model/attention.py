"""Grouped-query attention with packing, custom visibility and an optional KV cache.

K/V are never repeated in memory: queries are reshaped to [kv_heads, group] and contracted against the shared
K/V heads. The softmax itself (float32 scores, masking, the lean backward pass) is attention_core.py.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx, struct

from meta_rfft.model.attention_core import grouped_attention_heads_major_kv
from meta_rfft.model.config import ModelConfig
from meta_rfft.model.layers import Projection, RMSNorm
from meta_rfft.model.ops import Ops
from meta_rfft.model.rope import apply_rope, inverse_frequencies
from meta_rfft.sharding.rules import constrain


# Logical axes of one layer's cached keys/values, [B, kv_heads, S, head_dim] (stacks prepend "layers").
CACHE_LAYER_AXES = ("act_batch", "act_kv_heads", "cache_length", None)


@struct.dataclass
class KVCache:
  """Keys/values of every layer for the slots written so far, for incremental decoding.

  k, v: heads-major, [layers, B, kv_heads, S, head_dim] stacks when the model scans its layers, else tuples of
  one [B, kv_heads, S, head_dim] array per layer; segment_ids/positions: [B, S] of the written slots (segment
  0 = empty or padding); end: the next slot to write, either one scalar shared by all rows (prompts are
  left-padded, and plain decoding advances every row by one token) or one slot per row, int32 [B] (speculative
  decoding advances each row by the tokens it accepted). A row's slots past its own end may hold keys of
  rejected draft tokens: the next call writes over them before any query can see them, because a query
  attends only to slots up to its own.

  Why these layouts: heads-major is what attention reads, so a decoding step transposes only its own new keys
  and values, never the cache. A scanned layer stack threads the stacks through as its carry and writes each
  layer's new slots in place, but attention can only read a layer's slice as a copy; an unrolled stack keeps
  one buffer per layer, read where it lies (on XLA:CPU those copies were a large share of a decoding step;
  tests/benchmarks/decode_throughput.py times both layouts).
  """
  k: jax.Array | tuple[jax.Array, ...]
  v: jax.Array | tuple[jax.Array, ...]
  segment_ids: jax.Array
  positions: jax.Array
  end: jax.Array

  @classmethod
  def empty(cls, cfg: ModelConfig, batch: int, max_len: int, dtype=None) -> "KVCache":
    dtype = dtype or jnp.dtype(cfg.run.dtype)
    layer_shape = (batch, cfg.arch.num_kv_heads, max_len, cfg.arch.head_dim)
    if cfg.run.scan_layers:
      k, v = (jnp.zeros((cfg.arch.num_layers, *layer_shape), dtype) for _ in range(2))
    else:
      k, v = (tuple(jnp.zeros(layer_shape, dtype) for _ in range(cfg.arch.num_layers)) for _ in range(2))
    return cls(k=k, v=v, segment_ids=jnp.zeros((batch, max_len), jnp.int32),
               positions=jnp.zeros((batch, max_len), jnp.int32), end=jnp.zeros((), jnp.int32))

  @property
  def max_len(self) -> int:
    return self.segment_ids.shape[1]


def constrain_cache(cache: KVCache) -> KVCache:
  """The cache's k/v on their mesh axes (batch over data/fsdp, KV heads over tensor), stacked or per layer."""
  def one(a):
    return constrain(a, CACHE_LAYER_AXES if a.ndim == 4 else ("layers", *CACHE_LAYER_AXES))
  return cache.replace(k=jax.tree.map(one, cache.k), v=jax.tree.map(one, cache.v))


class Attention(nnx.Module):

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    a = cfg.arch
    e, n, k, d = a.hidden_size, a.num_heads, a.num_kv_heads, a.head_dim
    self.ops = Ops.of(cfg)
    pdt, dt = jnp.dtype(cfg.run.param_dtype), jnp.dtype(cfg.run.dtype)
    common = dict(num_layers=a.num_layers, std=a.initializer_range, param_dtype=pdt, dtype=dt, rngs=rngs, ops=self.ops)
    self.q_proj = Projection((e,), (n, d), ("embed",), ("q_heads", "head_dim"), use_bias=a.qkv_bias, **common)
    self.k_proj = Projection((e,), (k, d), ("embed",), ("kv_heads", "head_dim"), use_bias=a.qkv_bias, **common)
    self.v_proj = Projection((e,), (k, d), ("embed",), ("kv_heads", "head_dim"), use_bias=a.qkv_bias, **common)
    self.o_proj = Projection((n, d), (e,), ("q_heads", "head_dim"), ("embed",), use_bias=a.o_bias, **common)
    # Qwen3 and Gemma 3 norm each query and key head over head_dim before RoPE (one weight shared by the heads).
    norm = dict(num_layers=a.num_layers, param_dtype=pdt, dtype=dt, ops=self.ops, offset=a.norm_offset)
    self.q_norm = RMSNorm(d, a.rms_norm_eps, **norm) if a.qk_norm else None
    self.k_norm = RMSNorm(d, a.rms_norm_eps, **norm) if a.qk_norm else None
    self.num_heads, self.num_kv_heads, self.head_dim = n, k, d
    self.scale = float(a.attn_scale) if a.attn_scale else d ** -0.5
    # Tuples of floats (exact float32 values): static module data, hashable for the graph definition. Sliding
    # layers of a family with a RoPE of their own (Gemma 3) rotate by `inv_freq_local`.
    self.inv_freq = tuple(float(f) for f in inverse_frequencies(a.rope, d))
    self.inv_freq_local = (tuple(float(f) for f in inverse_frequencies(a.rope_local, d))
                           if a.rope_local is not None else None)

  def _rope(self, x, positions, local):
    if self.inv_freq_local is None or local is False:
      return apply_rope(x, positions, self.inv_freq)
    if local is True:
      return apply_rope(x, positions, self.inv_freq_local)
    # A scanned stack: the layer's kind is data, so both rotations are computed and one is kept.
    return jnp.where(local, apply_rope(x, positions, self.inv_freq_local), apply_rope(x, positions, self.inv_freq))

  def __call__(self, x, positions, mask, layer_cache: tuple[jax.Array, jax.Array, jax.Array] | None = None,
               write_slot: jax.Array | None = None, local: bool | jax.Array = False):
    """x [B, L, E]; mask bool [B, L, S] (S = L, or the cache length); `local`: whether this is a sliding layer
    (its RoPE, when the family gives sliding layers one of their own).

    With `layer_cache` = (k, v, layer): either the whole stacked cache (KVCache.k/.v) and this layer's index,
    or this layer's own cache buffers and None. This call's keys/values are written at write_slot, attention
    runs over all of the layer's slots, and the updated (k, v) are returned."""
    q, k = self.q_proj(x), self.k_proj(x)
    if self.q_norm is not None:
      q, k = self.q_norm(q), self.k_norm(k)
    q = self._rope(q, positions, local)
    k = self._rope(k, positions, local)
    v = self.v_proj(x)
    q = constrain(q, ("act_batch", "act_length", "act_heads", None))
    k = constrain(k, ("act_batch", "act_length", "act_kv_heads", None))
    v = constrain(v, ("act_batch", "act_length", "act_kv_heads", None))
    b, length, n, d = q.shape
    q = q.reshape(b, length, self.num_kv_heads, n // self.num_kv_heads, d)
    if layer_cache is None:
      out = self.ops.attention(q, k, v, mask, self.scale)
      return self.o_proj(out.reshape(b, length, n, d)), None
    k_all, v_all, layer = layer_cache
    k_all, keys = _write_and_read(k_all, k, layer, write_slot)
    v_all, values = _write_and_read(v_all, v, layer, write_slot)
    # Slots past the furthest row's last written one hold no key any query may see.
    extent = jnp.max(jnp.asarray(write_slot, jnp.int32)) + length
    out = grouped_attention_heads_major_kv(q, keys.astype(q.dtype), values.astype(q.dtype), mask, self.scale,
                                           extent=extent)
    return self.o_proj(out.reshape(b, length, n, d)), (k_all, v_all)


def _write_and_read(cache: jax.Array, new: jax.Array, layer: jax.Array | None, slot: jax.Array):
  """Writes `new` [B, L, K, D] at `slot` (one shared slot, or one per row [B]) into `cache`: the stacked
  [layers, B, K, S, D] at `layer`, or one layer's [B, K, S, D] (layer None). Returns the updated cache and the
  layer's [B, K, S, D]."""
  new = jnp.transpose(new, (0, 2, 1, 3)).astype(cache.dtype)
  zero, slot = jnp.zeros((), jnp.int32), jnp.asarray(slot, jnp.int32)
  per_row = slot.ndim == 1
  if layer is None:
    if per_row:
      cache = jax.vmap(lambda c, n, s: jax.lax.dynamic_update_slice(c, n, (zero, s, zero)))(cache, new, slot)
    else:
      cache = jax.lax.dynamic_update_slice(cache, new, (zero, zero, slot, zero))
    cache = constrain(cache, CACHE_LAYER_AXES)
    return cache, cache
  layer = jnp.asarray(layer, jnp.int32)
  if per_row:
    cache = jax.vmap(lambda c, n, s: jax.lax.dynamic_update_slice(c, n[None], (layer, zero, s, zero)),
                     in_axes=(1, 0, 0), out_axes=1)(cache, new, slot)
  else:
    cache = jax.lax.dynamic_update_slice(cache, new[None], (layer, zero, zero, slot, zero))
  cache = constrain(cache, ("layers", *CACHE_LAYER_AXES))
  return cache, jax.lax.dynamic_index_in_dim(cache, layer, 0, keepdims=False)
