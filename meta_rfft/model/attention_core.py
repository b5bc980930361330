"""Masked grouped-query softmax attention with a memory-lean backward pass.

The forward pass is the textbook one (scores in float32, masked, softmax, weighted sum of values). What the
backward pass keeps is not: autodiff of that code saves the float32 probabilities, [B, kv_heads, group, L, S]
per layer, and a scanned stack of layers keeps one such tensor per layer until the backward pass reads it. Here
the forward saves only q, k, v, the mask, the output and the per-query softmax max and sum (O(L), as flash
attention does), and the backward recomputes the probabilities with one extra q.k^T matmul. On every backend that is less
activation memory; on XLA:CPU it is also faster, because writing and re-reading the saved probabilities costs
more than the recomputation.

Masked entries get a large finite negative score, so a query that sees no key (a padding position) gets a
finite, ignored output and zero gradients instead of NaNs.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

MASKED = -0.7 * float(np.finfo(np.float32).max)


def _scores(q, k, mask, scale):
  """q [B, L, K, G, D], k [B, S, K, D], mask bool [B, L, S] -> masked float32 scores [B, K, G, L, S]."""
  s = jnp.einsum("blkgd,bskd->bkgls", q, k, preferred_element_type=jnp.float32) * scale
  return jnp.where(mask[:, None, None, :, :], s, MASKED)


def _forward(q, k, v, mask, scale):
  s = _scores(q, k, mask, scale)
  m = jnp.max(s, axis=-1, keepdims=True)
  p = jnp.exp(s - m)
  total = jnp.sum(p, axis=-1, keepdims=True)
  out = jnp.einsum("bkgls,bskd->blkgd", (p / total).astype(v.dtype), v, preferred_element_type=jnp.float32)
  return out.astype(q.dtype), (m, total)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def grouped_attention(q, k, v, mask, scale):
  """softmax(q.k^T * scale, masked) . v for q [B, L, K, G, D], k/v [B, S, K, D], mask [B, L, S] -> [B, L, K, G, D].

  `scale` is a Python float (a static argument)."""
  return _forward(q, k, v, mask, scale)[0]


def _fwd(q, k, v, mask, scale):
  out, (m, total) = _forward(q, k, v, mask, scale)
  return out, (q, k, v, mask, out, m, total)


def _bwd(scale, res, d_out):
  q, k, v, mask, out, m, total = res
  # The forward's probabilities, recomputed. Not as exp(s - log-sum-exp): in a row that sees no key every
  # score is the huge negative MASKED, which absorbs log(total) in float32.
  p = jnp.exp(_scores(q, k, mask, scale) - m) / total
  d_out32 = d_out.astype(jnp.float32)
  d_v = jnp.einsum("bkgls,blkgd->bskd", p.astype(v.dtype), d_out.astype(v.dtype),
                   preferred_element_type=jnp.float32)
  d_p = jnp.einsum("blkgd,bskd->bkgls", d_out.astype(v.dtype), v, preferred_element_type=jnp.float32)
  # d(softmax): p * (d_p - sum_s p * d_p); the row sum equals <d_out, out> per query. Masked scores are
  # constants (the `where` in _scores), so no gradient flows through them, even in a row that sees no key.
  delta = jnp.einsum("blkgd,blkgd->bkgl", d_out32, out.astype(jnp.float32))[..., None]
  d_s = jnp.where(mask[:, None, None, :, :], p * (d_p - delta) * scale, 0.0).astype(q.dtype)
  d_q = jnp.einsum("bkgls,bskd->blkgd", d_s, k, preferred_element_type=jnp.float32)
  d_k = jnp.einsum("bkgls,blkgd->bskd", d_s, q, preferred_element_type=jnp.float32)
  return (d_q.astype(q.dtype), d_k.astype(k.dtype), d_v.astype(v.dtype), None)


grouped_attention.defvjp(_fwd, _bwd)
