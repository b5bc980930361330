"""The decoder: embedding, a stack of pre-norm (attention + gated MLP) layers, final norm, LM head.

One implementation serves Llama 1/2/3, Qwen2/2.5, Qwen3, Mistral and Gemma 3 (text); the differences (biases,
tied embeddings, RoPE scaling, query/key norms, Gemma's norms around each block and scaled embeddings, GeGLU,
sliding-window layers interleaved with global ones, each kind with its own RoPE) are fields of the Architecture.
Layer parameters are stacked over layers; the forward pass either scans over the stack (one compiled layer, fast
compiles for deep models) or unrolls it.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import nnx

from meta_rfft.model.attention import Attention, KVCache
from meta_rfft.model.config import ModelConfig
from meta_rfft.model.layers import MLP, RMSNorm, param
from meta_rfft.model.ops import Ops
from meta_rfft.model.visibility import Visibility, attention_mask
from meta_rfft.sharding.rules import constrain

# Named rematerialisation policies (what the backward pass may keep instead of recomputing).
REMAT_POLICIES = {
    "none": None,  # no remat: keep every activation
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.checkpoint_dots,
    "dots_no_batch": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


class DecoderLayer(nnx.Module):
  """All layers' parameters, stacked; `__call__` runs one layer given that layer's slice."""

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    a = cfg.arch
    pdt, dt, ops = jnp.dtype(cfg.run.param_dtype), jnp.dtype(cfg.run.dtype), Ops.of(cfg)
    norm = dict(num_layers=a.num_layers, param_dtype=pdt, dtype=dt, ops=ops, offset=a.norm_offset)
    self.input_norm = RMSNorm(a.hidden_size, a.rms_norm_eps, **norm)
    self.attn = Attention(cfg, rngs=rngs)
    # The norm before the MLP (HF: Llama's post_attention_layernorm, Gemma's pre_feedforward_layernorm).
    self.post_attention_norm = RMSNorm(a.hidden_size, a.rms_norm_eps, **norm)
    # Gemma's norms of each block's output, before its residual add.
    self.attn_out_norm = RMSNorm(a.hidden_size, a.rms_norm_eps, **norm) if a.sandwich_norms else None
    self.mlp_out_norm = RMSNorm(a.hidden_size, a.rms_norm_eps, **norm) if a.sandwich_norms else None
    self.mlp = MLP(a.hidden_size, a.intermediate_size, num_layers=a.num_layers, use_bias=a.mlp_bias,
                   std=a.initializer_range, param_dtype=pdt, dtype=dt, rngs=rngs, ops=ops,
                   activation=a.mlp_activation)

  def __call__(self, x, positions, masks, layer_cache, write_slot, local=False):
    """`masks`: (full layers' mask, sliding layers' mask); `local`: whether this layer slides (a Python bool when
    the stack is unrolled, a traced one when scanned)."""
    full, sliding = masks
    mask = full if sliding is None or local is False else sliding if local is True else jnp.where(local, sliding, full)
    h, new_layer_cache = self.attn(self.input_norm(x), positions, mask, layer_cache, write_slot, local)
    x = x + (h if self.attn_out_norm is None else self.attn_out_norm(h))
    h = self.mlp(self.post_attention_norm(x))
    x = x + (h if self.mlp_out_norm is None else self.mlp_out_norm(h))
    return constrain(x, ("act_batch", "act_length", "act_embed")), new_layer_cache


class Decoder(nnx.Module):

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    if cfg.run.remat_policy not in REMAT_POLICIES:
      raise ValueError(f"model.remat_policy {cfg.run.remat_policy!r} unknown; choose from {sorted(REMAT_POLICIES)}")
    self.config = cfg
    pdt = jnp.dtype(cfg.run.param_dtype)
    self.embed = param(rngs, (cfg.arch.vocab_size, cfg.arch.hidden_size), ("vocab", "embed"), pdt,
                       std=cfg.arch.initializer_range)
    self.layers = DecoderLayer(cfg, rngs=rngs)
    self.ops = Ops.of(cfg)
    self.final_norm = RMSNorm(cfg.arch.hidden_size, cfg.arch.rms_norm_eps, num_layers=None, param_dtype=pdt,
                              dtype=jnp.dtype(cfg.run.dtype), ops=self.ops, offset=cfg.arch.norm_offset)
    self.lm_head = (None if cfg.arch.tie_word_embeddings else
                    param(rngs, (cfg.arch.hidden_size, cfg.arch.vocab_size), ("embed", "vocab"), pdt,
                          std=cfg.arch.initializer_range))

  def __call__(self, tokens, positions=None, segment_ids=None, visibility: Visibility | None = None,
               cache: KVCache | None = None, layer_params: tuple | None = None):
    """tokens [B, L] -> (logits float32 [B, L, vocab], updated cache or None).

    `layer_params`: per_layer_params() of this model, taken once by a caller that runs it many times in a loop
    (decoding); otherwise each call slices every layer's parameters out of the stacks again."""
    hidden, cache = self.hidden_states(tokens, positions, segment_ids, visibility, cache, layer_params)
    return self.logits(hidden), cache

  def last_logits(self, tokens, positions=None, segment_ids=None, cache: KVCache | None = None):
    """(logits float32 [B, vocab] at each row's last position, updated cache): a prompt's prefill. The other
    positions' logits are never computed: for a real vocabulary, [B, L, vocab] would be the largest buffer of a
    decoding program (tests/benchmarks/real_model_decode.py measures its memory)."""
    hidden, cache = self.hidden_states(tokens, positions, segment_ids, cache=cache)
    return self.logits(hidden[:, -1:])[:, 0], cache

  def per_layer_params(self) -> tuple:
    """Each layer's parameters sliced out of the stacks (unrolled models only).

    XLA does not hoist slices out of a loop on its own (it counts them as too cheap to move), so a decoding
    loop that called the model with its stacked parameters copied every layer's weights out at every step (on
    XLA:CPU a sizeable share of it: tests/benchmarks/decode_throughput.py). Sliced once before the loop, they
    are loop constants."""
    if self.config.run.scan_layers:
      raise ValueError("per_layer_params: the model scans its layers (model.scan_layers=True), which reads the "
                       "stacked parameters; slicing them serves only an unrolled model")
    _, stacked = nnx.split(self.layers)
    return tuple(jax.tree.map(lambda a, i=i: a[i], stacked) for i in range(self.config.arch.num_layers))

  def logits(self, hidden: jax.Array) -> jax.Array:
    dt = jnp.dtype(self.config.run.dtype)
    # ops.contract, not einsum: its backward computes the head's gradient without transposing [tokens, vocab].
    head = self.embed[...].astype(dt).T if self.lm_head is None else self.lm_head[...].astype(dt)
    out = self.ops.contract(hidden, head, 1).astype(jnp.float32)
    cap = self.config.arch.final_logit_softcap
    if cap:
      out = cap * jnp.tanh(out / cap)
    return constrain(out, ("act_batch", "act_length", "act_vocab"))

  def hidden_states(self, tokens, positions=None, segment_ids=None, visibility=None, cache=None,
                    layer_params=None, embeds=None):
    """The final-norm hidden states [B, L, hidden]. `embeds` [B, L, hidden], given in place of `tokens` (None),
    feeds the layers vectors that are not rows of the embedding table (meta_rfft/tart's reasoning head)."""
    cfg = self.config
    if (tokens is None) == (embeds is None):
      raise ValueError("hidden_states takes either tokens or embeds, not both or neither")
    b, length = (tokens if embeds is None else embeds).shape[:2]
    if positions is None:
      positions = jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32), (b, length))
    if segment_ids is None:
      segment_ids = jnp.ones((b, length), jnp.int32)
    masks, write_slot, cache = self._mask_and_cache(positions, segment_ids, visibility, cache)

    if embeds is None:
      x = jnp.take(self.embed[...], tokens, axis=0)
      if cfg.arch.embed_scale:  # in the table's dtype, as transformers scales Gemma's embeddings
        x = x * jnp.asarray(cfg.arch.hidden_size ** 0.5, jnp.float32).astype(x.dtype)
    else:
      x = embeds
    x = x.astype(jnp.dtype(cfg.run.dtype))
    x = constrain(x, ("act_batch", "act_length", "act_embed"))

    graphdef, stacked = nnx.split(self.layers)
    if layer_params is not None and (cfg.run.scan_layers or len(layer_params) != cfg.arch.num_layers):
      raise ValueError(f"layer_params must be per_layer_params() of an unrolled model ({cfg.arch.num_layers} layers)")

    def layer_slice(i):
      return layer_params[i] if layer_params is not None else jax.tree.map(lambda a: a[i], stacked)

    kinds = [cfg.arch.sliding(i) for i in range(cfg.arch.num_layers)]
    local = jnp.asarray(kinds)  # scanned: each layer's kind travels with its parameters

    def one_layer(x, layer_state, layer_cache, is_local):
      layer = nnx.merge(graphdef, layer_state)
      return layer(x, positions, masks, layer_cache, write_slot, is_local)

    policy = REMAT_POLICIES[cfg.run.remat_policy]
    if cfg.run.remat_policy != "none":
      one_layer = jax.checkpoint(one_layer, policy=policy, prevent_cse=not cfg.run.scan_layers)

    if cache is None:
      if cfg.run.scan_layers:
        x, _ = jax.lax.scan(lambda x, xs: one_layer(x, xs[0], None, xs[1]), x, (stacked, local))
      else:
        for i in range(cfg.arch.num_layers):
          x, _ = one_layer(x, layer_slice(i), None, kinds[i])
      return self.final_norm(x), None

    # With a cache, the k/v buffers travel through the layer loop (as the carry, when scanning) and each layer
    # writes its new slots into them in place (KVCache says why). As scan inputs/outputs instead, every step
    # would slice each layer's cache out and restack the whole cache.
    k, v = cache.k, cache.v
    if not (isinstance(k, tuple) == isinstance(v, tuple) == (not cfg.run.scan_layers)):
      raise ValueError("KVCache k/v must be [layers, ...] stacks for a model that scans its layers and tuples of "
                       "per-layer arrays for an unrolled one (KVCache.empty builds the right one for the config)")
    if cfg.run.scan_layers:
      def body(carry, xs):
        x, k, v = carry
        layer_state, i, is_local = xs
        x, (k, v) = one_layer(x, layer_state, (k, v, i), is_local)
        return (x, k, v), None
      (x, k, v), _ = jax.lax.scan(body, (x, k, v),
                                  (stacked, jnp.arange(cfg.arch.num_layers, dtype=jnp.int32), local))
    else:
      k, v = list(k), list(v)
      for i in range(cfg.arch.num_layers):
        x, (k[i], v[i]) = one_layer(x, layer_slice(i), (k[i], v[i], None), kinds[i])
      k, v = tuple(k), tuple(v)
    cache = cache.replace(k=k, v=v)
    return self.final_norm(x), cache

  def _mask_and_cache(self, positions, segment_ids, visibility, cache):
    """The attention masks, built once for all layers: (full layers', sliding layers' or None when no layer
    slides), and (with a cache) the slot where this call writes. The window is a visibility rule on position
    ids, so packed rows (positions restart per example) and cached decoding apply it alike."""
    a = self.config.arch
    b, length = segment_ids.shape
    index = jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32), (b, length))
    slides = any(a.sliding(i) for i in range(a.num_layers))
    window = a.sliding_window if slides else None
    if cache is None:
      args = (segment_ids, segment_ids, index, index)
      kw = dict(q_positions=positions, k_positions=positions, visibility=visibility)
      return _masks(args, kw, window), None, None
    if visibility is not None and visibility.rule != "causal":
      raise ValueError("a custom visibility rule cannot be combined with a KV cache")
    write_slot = cache.end
    if write_slot.ndim == 1:  # each row writes at its own slot (KVCache)
      put = jax.vmap(lambda row, new, slot: jax.lax.dynamic_update_slice_in_dim(row, new, slot, axis=0))
      q_index = index + write_slot[:, None]
    else:
      put = functools.partial(jax.lax.dynamic_update_slice_in_dim, axis=1)
      q_index = index + write_slot
    cache = cache.replace(segment_ids=put(cache.segment_ids, segment_ids, write_slot),
                          positions=put(cache.positions, positions, write_slot), end=write_slot + length)
    slots = jnp.broadcast_to(jnp.arange(cache.max_len, dtype=jnp.int32), (b, cache.max_len))
    args = (segment_ids, cache.segment_ids, q_index, slots)
    return _masks(args, dict(q_positions=positions, k_positions=cache.positions), window), write_slot, cache


def _masks(args, kw, window):
  """(full layers' mask, sliding layers' mask or None)."""
  full = attention_mask(*args, **kw)
  return full, (None if window is None else attention_mask(*args, sliding_window=window, **kw))
