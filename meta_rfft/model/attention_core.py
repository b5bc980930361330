"""Masked grouped-query softmax attention with a memory-lean backward pass.

The forward pass is the textbook one (scores in float32, masked, softmax, weighted sum of values). What the
backward pass keeps is not: autodiff of that code saves the float32 probabilities, [B, kv_heads, group, L, S]
per layer, and a scanned stack of layers keeps one such tensor per layer until the backward pass reads it. Here
the forward saves only q, k, v (heads-major), the mask, the output and the per-query softmax max and sum (O(L),
as flash attention does), and the backward recomputes the probabilities with one extra q.k^T matmul. On every
backend that is less activation memory; on XLA:CPU it is also faster, because writing and re-reading the saved
probabilities costs more than the recomputation.

Layout: the small tensors (q, k, v, the output and their gradients, [B, L, heads, D]) are transposed to
heads-major [B, kv_heads, group, L, D] once, so that every [.., L, S] tensor (scores, probabilities and their
gradients) is produced and consumed by the matmuls in one layout with S minor. Left to choose, XLA:CPU
transposed the large score tensors between matmuls and elementwise passes instead, which cost more than the
matmuls.

Rows longer than QUERY_BLOCK run in blocks of queries, forward and backward, each block over the keys up to its
last query (the decoder's masks are causal), so a layer never holds a long row's whole L x L scores, and the
key blocks after a query block's end, all masked, are skipped rather than computed.

Masked entries get a large finite negative score, so a query that sees no key (a padding position) gets a
finite, ignored output and zero gradients instead of NaNs.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

MASKED = -0.7 * float(np.finfo(np.float32).max)


def _heads_major(q, k, v):
  """q [B, L, K, G, D] -> [B, K, G, L, D]; k, v [B, S, K, D] -> [B, K, S, D]."""
  return jnp.transpose(q, (0, 2, 3, 1, 4)), jnp.transpose(k, (0, 2, 1, 3)), jnp.transpose(v, (0, 2, 1, 3))


def _back_to_queries(x):
  """[B, K, G, L, D] -> [B, L, K, G, D] (the inverse of _heads_major for q)."""
  return jnp.transpose(x, (0, 3, 1, 2, 4))


def _scores(qh, kh, mask, scale):
  """qh [B, K, G, L, D], kh [B, K, S, D], mask [B, L, S] -> masked float32 scores [B, K, G, L, S]."""
  s = jnp.einsum("bkgld,bksd->bkgls", qh, kh, preferred_element_type=jnp.float32) * scale
  return jnp.where(mask[:, None, None], s, MASKED)


def _forward(qh, kh, vh, mask, scale):
  s = _scores(qh, kh, mask, scale)
  m = jnp.max(s, axis=-1, keepdims=True)
  p = jnp.exp(s - m)
  total = jnp.sum(p, axis=-1, keepdims=True)
  out = jnp.einsum("bkgls,bksd->bkgld", (p / total).astype(vh.dtype), vh, preferred_element_type=jnp.float32)
  return out.astype(qh.dtype), (m, total)


# Queries per block in training/prefill attention: each block's [.., block, keys] scores exist only while that
# block is computed, so a long row never holds all of its L x L scores at once. Sequences up to this length run
# as one block (the 256-token rows of tests/benchmarks/train_throughput.py included).
QUERY_BLOCK = 1024


def _query_blocks(length: int, keys: int, q_block: int) -> list[tuple[int, int, int]]:
  """(start, stop, key_stop) of each block of queries. With several blocks, a block needs keys only up to its
  last query: the decoder's masks are causal (visibility.base_mask), so no query sees a key after itself."""
  if q_block < 1:
    raise ValueError(f"q_block must be >= 1, got {q_block}")
  if length <= q_block:
    return [(0, length, keys)]
  if keys != length:
    raise ValueError(f"attention in query blocks is self-attention over one row: {length} queries but {keys} keys")
  return [(start, min(start + q_block, length), min(start + q_block, length))
          for start in range(0, length, q_block)]


def _blocked_forward(qh, kh, vh, mask, scale, q_block):
  outs, ms, totals = [], [], []
  for start, stop, key_stop in _query_blocks(qh.shape[3], kh.shape[2], q_block):
    out, (m, total) = _forward(qh[:, :, :, start:stop], kh[:, :, :key_stop], vh[:, :, :key_stop],
                               mask[:, start:stop, :key_stop], scale)
    outs.append(out)
    ms.append(m)
    totals.append(total)
  return jnp.concatenate(outs, 3), (jnp.concatenate(ms, 3), jnp.concatenate(totals, 3))


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def grouped_attention(q, k, v, mask, scale, q_block=QUERY_BLOCK):
  """softmax(q.k^T * scale, masked) . v for q [B, L, K, G, D], k/v [B, S, K, D], mask [B, L, S] -> [B, L, K, G, D].

  `scale` (a float) and `q_block` (queries per block, QUERY_BLOCK) are static. A row longer than q_block is
  computed block by block, which requires self-attention (S = L) with a causal mask, as the decoder's are."""
  return grouped_attention_value(q, k, v, mask, scale, q_block)


def grouped_attention_value(q, k, v, mask, scale, q_block=QUERY_BLOCK):
  """grouped_attention's forward computation, for plain autodiff (which keeps every block's probabilities)."""
  out, _ = _blocked_forward(*_heads_major(q, k, v), mask, scale, q_block)
  return _back_to_queries(out)


def _fwd(q, k, v, mask, scale, q_block):
  qh, kh, vh = _heads_major(q, k, v)
  out, (m, total) = _blocked_forward(qh, kh, vh, mask, scale, q_block)
  return _back_to_queries(out), (qh, kh, vh, mask, out, m, total)  # kept heads-major: not transposed twice


def _bwd(scale, q_block, res, d_out):
  qh, kh, vh, mask, out, m, total = res
  d_out = jnp.transpose(d_out, (0, 2, 3, 1, 4))
  keys = kh.shape[2]
  d_q, d_k, d_v = [], None, None
  for start, stop, key_stop in _query_blocks(qh.shape[3], keys, q_block):
    rows = slice(start, stop)
    d_q_block, d_k_block, d_v_block = _block_grads(
        qh[:, :, :, rows], kh[:, :, :key_stop], vh[:, :, :key_stop], mask[:, rows, :key_stop], out[:, :, :, rows],
        m[:, :, :, rows], total[:, :, :, rows], d_out[:, :, :, rows], scale)
    d_q.append(d_q_block)
    # Keys past this block's last query got no gradient from it: pad to the row's length and sum over blocks.
    pad = ((0, 0), (0, 0), (0, keys - key_stop), (0, 0))
    d_k_block, d_v_block = (jnp.pad(x, pad) if key_stop < keys else x for x in (d_k_block, d_v_block))
    d_k = d_k_block if d_k is None else d_k + d_k_block
    d_v = d_v_block if d_v is None else d_v + d_v_block
  d_q = jnp.concatenate(d_q, 3)
  return (_back_to_queries(d_q).astype(qh.dtype), jnp.transpose(d_k, (0, 2, 1, 3)).astype(kh.dtype),
          jnp.transpose(d_v, (0, 2, 1, 3)).astype(vh.dtype), None)


def _block_grads(qh, kh, vh, mask, out, m, total, d_out, scale):
  """Gradients (float32) of one block of queries: d_q [B, K, G, l, D], d_k and d_v over its keys [B, K, s, D]."""
  # The forward's probabilities, recomputed. Not as exp(s - log-sum-exp): in a row that sees no key every
  # score is the huge negative MASKED, which absorbs log(total) in float32.
  p = jnp.exp(_scores(qh, kh, mask, scale) - m) / total
  d_v = _keys_grad(p.astype(vh.dtype), d_out.astype(vh.dtype))
  d_p = jnp.einsum("bkgld,bksd->bkgls", d_out.astype(vh.dtype), vh, preferred_element_type=jnp.float32)
  # d(softmax): p * (d_p - sum_s p * d_p); the row sum equals <d_out, out> per query. Masked scores are
  # constants (the `where` in _scores), so no gradient flows through them, even in a row that sees no key.
  delta = jnp.sum(d_out.astype(jnp.float32) * out.astype(jnp.float32), axis=-1, keepdims=True)
  d_s = jnp.where(mask[:, None, None], p * (d_p - delta) * scale, 0.0).astype(qh.dtype)
  d_q = jnp.einsum("bkgls,bksd->bkgld", d_s, kh, preferred_element_type=jnp.float32)
  d_k = _keys_grad(d_s, qh)
  return d_q, d_k, d_v


def _keys_grad(x, y):
  """sum over (g, l) of x [B, K, G, l, s] * y [B, K, G, l, D] -> float32 [B, K, s, D] (d_k and d_v).

  Computed as [B, K, D, s] and transposed: a matmul reads the operand it contracts over its leading (g, l) dims
  transposed, which XLA:CPU copies first, and this way that operand is the D-wide y, not the s-wide x."""
  return jnp.swapaxes(jnp.einsum("bkgld,bkgls->bkds", y, x, preferred_element_type=jnp.float32), 2, 3)


grouped_attention.defvjp(_fwd, _bwd)


# Cache slots per block when queries attend over a KV cache block by block, skipping the blocks past the last
# written slot: always with several queries (a prefill, or a speculative step's drafted tokens), and with one
# query from ONE_QUERY_BLOCKS blocks of cache on. Below that, one query reads a short cache in one pass for less
# than the block copies (XLA:CPU copies every block it slices out) and the running sums cost.
CACHE_BLOCK = 512
ONE_QUERY_BLOCKS = 4


def _filled_blocks_attention(qh, kh, vh, mask, scale, extent, block: int):
  """Softmax attention of qh [B, K, G, L, D] over the cache slots [0, extent) only, block by block with a running
  max and sum (flash-attention style): [B, K, G, L, D] float32.

  With several queries per row, scoring every slot of the preallocated cache costs compute in proportion to its
  whole length, most of it on slots no row has written yet; here the loop stops after the block holding the
  last written slot. The last block is taken at S - block when S is not a multiple of `block`, and its slots
  already covered by the previous block are masked out."""
  b, kv_heads, group, length, d = qh.shape
  s_len = kh.shape[2]
  block = min(block, s_len)
  cols = jnp.arange(block, dtype=jnp.int32)

  def body(i, carry):
    m, total, acc = carry
    start = jnp.minimum(i * block, s_len - block)
    kb = jax.lax.dynamic_slice_in_dim(kh, start, block, axis=2)
    vb = jax.lax.dynamic_slice_in_dim(vh, start, block, axis=2)
    mb = jax.lax.dynamic_slice_in_dim(mask, start, block, axis=2) & (start + cols >= i * block)
    s = _scores(qh, kb, mb, scale)
    m_new = jnp.maximum(m, jnp.max(s, axis=-1, keepdims=True))
    p = jnp.exp(s - m_new)
    correction = jnp.exp(m - m_new)
    total = total * correction + jnp.sum(p, axis=-1, keepdims=True)
    acc = acc * correction + jnp.einsum("bkgls,bksd->bkgld", p.astype(vb.dtype), vb,
                                        preferred_element_type=jnp.float32)
    return m_new, total, acc

  init = (jnp.full((b, kv_heads, group, length, 1), MASKED, jnp.float32),
          jnp.zeros((b, kv_heads, group, length, 1), jnp.float32),
          jnp.zeros((b, kv_heads, group, length, d), jnp.float32))
  blocks = (jnp.minimum(extent, s_len) + block - 1) // block
  _, total, acc = jax.lax.fori_loop(0, blocks, body, init)
  return acc / total


def grouped_attention_heads_major_kv(q, kh, vh, mask, scale, extent=None):
  """grouped_attention with k/v already heads-major ([B, K, S, D], the KV cache's layout): q [B, L, K, G, D]
  -> [B, L, K, G, D]. For decoding: plain autodiff, no lean backward pass. `extent`: with several queries, the
  number of leading cache slots that may hold keys (the rest are skipped); None: all."""
  b, length, kv_heads, group, d = q.shape
  if length != 1 or (extent is not None and kh.shape[2] >= ONE_QUERY_BLOCKS * CACHE_BLOCK):
    qh = jnp.transpose(q, (0, 2, 3, 1, 4))
    if extent is None:
      out, _ = _forward(qh, kh, vh, mask, scale)
    else:
      out = _filled_blocks_attention(qh, kh, vh, mask, scale, extent, CACHE_BLOCK).astype(q.dtype)
    return _back_to_queries(out)
  # One query per row (a decoding step): the scores are computed and kept as [B, K, S, G], keys . q^T, so the
  # cached keys are the matmul's left operand in their stored layout. As q . keys^T, XLA:CPU repacked each
  # layer's whole cached keys into the right operand's layout at every step, which cost several times the
  # matmul; here only q ([G, D] per head) and the probabilities ([S, G]) are repacked. The barrier keeps XLA
  # from folding the transpose to [B, K, G, S] back into the dot, which would restore the slow operand order.
  q1 = q.reshape(b, kv_heads, group, d)
  s = jnp.einsum("bksd,bkgd->bksg", kh, q1, preferred_element_type=jnp.float32)
  s = jnp.swapaxes(jax.lax.optimization_barrier(s), 2, 3) * scale
  s = jnp.where(mask[:, None], s, MASKED)  # mask [B, 1, S] broadcasts over (K, G)
  p = jnp.exp(s - jnp.max(s, axis=-1, keepdims=True))
  p = p / jnp.sum(p, axis=-1, keepdims=True)
  out = jnp.einsum("bkgs,bksd->bkgd", p.astype(vh.dtype), vh, preferred_element_type=jnp.float32)
  return out.reshape(b, 1, kv_heads, group, d).astype(q.dtype)
