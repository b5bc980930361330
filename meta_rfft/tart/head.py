"""The reasoning head: a causal transformer over (x_1, y_1, x_2, y_2, ...) that predicts each y_i from x_i and
the pairs before it.

It is the project's decoder (meta_rfft.model.decoder) fed vectors instead of tokens: a read-in projection puts
each d-vector into the model width, the decoder's layers run over it, and a read-out projection gives one logit
per position. TART's released head is a GPT-2 stack (learned positions, LayerNorm, GELU MLP); this one has the
decoder's RoPE positions, RMSNorm and SwiGLU, with the MLP width (`head.mlp`) set so that the parameter count
matches GPT-2's 4x-wide MLP. The decoder's one-row token table is unused (its gradient is zero).

Labels enter as a d-vector that is zero except for y in coordinate 0; predictions are read at the x positions.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from meta_rfft.model.config import Architecture, ModelConfig, RopeConfig, RunOptions
from meta_rfft.model.decoder import Decoder
from meta_rfft.model.layers import param
from meta_rfft.model.visibility import Visibility, register_rule

# Evaluation packs many queries behind one context of labelled pairs: a query token sees the context and
# itself, never another query (rule ids: 0 for context tokens, j + 1 for query j).
QUERY_RULE = "tart_queries"
register_rule(QUERY_RULE, lambda q, k: (k["query"] == 0) | (k["query"] == q["query"]))


def model_config(head_cfg, platform: str = "") -> ModelConfig:
  """The decoder configuration of the head described by config.head."""
  width, heads = int(head_cfg.width), int(head_cfg.heads)
  if width % heads:
    raise ValueError(f"config.head.width={width} must be a multiple of config.head.heads={heads}")
  if int(head_cfg.input_dim) < 2:
    raise ValueError(f"config.head.input_dim={head_cfg.input_dim}: at least 2 (coordinate 0 carries the label)")
  arch = Architecture(model_type="llama", vocab_size=1, hidden_size=width, intermediate_size=int(head_cfg.mlp),
                      num_layers=int(head_cfg.layers), num_heads=heads, num_kv_heads=heads, head_dim=width // heads,
                      rope=RopeConfig(theta=10000.0), rms_norm_eps=1e-6, tie_word_embeddings=True,
                      max_position_embeddings=2 * int(head_cfg.max_points), initializer_range=0.02)
  run = RunOptions(param_dtype="float32", dtype=str(head_cfg.dtype), scan_layers=bool(head_cfg.scan_layers),
                   remat_policy=str(head_cfg.remat_policy), platform=platform)
  return ModelConfig(arch, run)


class ReasoningHead(nnx.Module):

  def __init__(self, head_cfg, *, rngs: nnx.Rngs, platform: str = ""):
    self.config = cfg = model_config(head_cfg, platform)
    self.input_dim = d = int(head_cfg.input_dim)
    width = cfg.arch.hidden_size
    self.read_in = param(rngs, (d, width), (None, "embed"), jnp.float32, std=cfg.arch.initializer_range)
    self.read_in_bias = param(None, (width,), ("embed",), jnp.float32, value=0.0)
    # Learned absolute positions as in GPT-2, on top of the layers' RoPE: they tell x tokens from label tokens
    # at the input (both are d-vectors, and RoPE alone leaves a token's parity to attention to work out).
    self.position_table = param(rngs, (2 * int(head_cfg.max_points), width), (None, "embed"), jnp.float32,
                                std=cfg.arch.initializer_range)
    self.body = Decoder(cfg, rngs=rngs)
    self.read_out = param(rngs, (width, 1), ("embed", None), jnp.float32, std=cfg.arch.initializer_range)
    self.read_out_bias = param(None, (1,), (None,), jnp.float32, value=0.0)

  def __call__(self, seq: jax.Array, positions: jax.Array | None = None,
               visibility: Visibility | None = None) -> jax.Array:
    """seq [B, L, d] -> one logit per position, float32 [B, L]."""
    dt = jnp.dtype(self.config.run.dtype)
    if positions is None:
      positions = jnp.broadcast_to(jnp.arange(seq.shape[1], dtype=jnp.int32), seq.shape[:2])
    x = seq.astype(dt) @ self.read_in[...].astype(dt) + self.read_in_bias[...].astype(dt)
    x = x + jnp.take(self.position_table[...], positions, axis=0).astype(dt)
    hidden, _ = self.body.hidden_states(None, positions=positions, visibility=visibility, embeds=x)
    out = hidden @ self.read_out[...].astype(dt) + self.read_out_bias[...].astype(dt)
    return out[..., 0].astype(jnp.float32)


def interleave(xs: jax.Array, ys: jax.Array) -> jax.Array:
  """xs [B, n, d], labels ys [B, n] -> the head's input [B, 2n, d]: x_1, y_1, x_2, y_2, ... with each y in
  coordinate 0 of an otherwise zero vector."""
  label_vecs = jnp.zeros_like(xs).at[..., 0].set(ys.astype(xs.dtype))
  b, n, d = xs.shape
  return jnp.stack([xs, label_vecs], axis=2).reshape(b, 2 * n, d)


def bce_loss(head: ReasoningHead, xs: jax.Array, ys: jax.Array) -> jax.Array:
  """Binary cross-entropy of the predictions at the x positions, averaged over examples and positions."""
  logits = head(interleave(xs, ys))[:, 0::2]
  y = ys.astype(jnp.float32)
  return jnp.mean(jnp.maximum(logits, 0) - logits * y + jnp.log1p(jnp.exp(-jnp.abs(logits))))


def query_logits(head: ReasoningHead, xs: jax.Array, ys: jax.Array, queries: jax.Array) -> jax.Array:
  """The head's logit for each query after the k labelled pairs: xs [k, d], ys [k], queries [m, d] -> [m].

  One forward pass: the pairs, then all m queries, each at position 2k and seeing only the pairs and itself
  (QUERY_RULE), which equals m separate passes over [pairs, query]."""
  k, m = xs.shape[0], queries.shape[0]
  seq = jnp.concatenate([interleave(xs[None], ys[None])[0], queries.astype(xs.dtype)], axis=0)[None]
  positions = jnp.concatenate([jnp.arange(2 * k, dtype=jnp.int32), jnp.full((m,), 2 * k, jnp.int32)])[None]
  query_ids = jnp.concatenate([jnp.zeros((2 * k,), jnp.int32), jnp.arange(1, m + 1, dtype=jnp.int32)])[None]
  logits = head(seq, positions=positions, visibility=Visibility(ids={"query": query_ids}, rule=QUERY_RULE))
  return logits[0, 2 * k:]
