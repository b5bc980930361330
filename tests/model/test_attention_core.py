"""grouped_attention's hand-written backward pass against autodiff of the plain softmax attention, computed in
float64 with numpy-free JAX code as the independent reference (jax_enable_x64 inside the test only)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from meta_rfft.model.attention_core import MASKED, grouped_attention, grouped_attention_heads_major_kv

B, L, S, K, G, D = 2, 7, 9, 2, 3, 4


def naive(q, k, v, mask, scale):
  s = jnp.einsum("blkgd,bskd->bkgls", q, k) * scale
  s = jnp.where(mask[:, None, None], s, MASKED)
  return jnp.einsum("bkgls,bskd->blkgd", jax.nn.softmax(s, axis=-1), v)


def draw(seed, dtype):
  rng = np.random.default_rng(seed)
  q, k, v = (rng.normal(size=s) for s in ((B, L, K, G, D), (B, S, K, D), (B, S, K, D)))
  mask = rng.random((B, L, S)) < 0.6
  mask[0, 2] = False  # a query that sees no key (a padding position)
  mask[1, :, 0] = True
  cotangent = rng.normal(size=(B, L, K, G, D))
  return [jnp.asarray(x, dtype) for x in (q, k, v)], jnp.asarray(mask), jnp.asarray(cotangent, dtype)


def assert_equals_float64_autodiff(ours, q, k, v, mask, ct, scale):
  """`ours` = (value, (d_q, d_k, d_v)) of sum(attention(q, k, v) * ct) against autodiff of `naive` in float64."""
  ours_value, ours_grads = ours
  with jax.enable_x64():
    q64, k64, v64, ct64 = (jnp.asarray(np.asarray(x), jnp.float64) for x in (q, k, v, ct))
    ref_value, ref_grads = jax.value_and_grad(
        lambda *a: jnp.sum(naive(*a, mask, scale) * ct64), argnums=(0, 1, 2))(q64, k64, v64)
    ref_value, ref_grads = np.asarray(ref_value), [np.asarray(g) for g in ref_grads]
  np.testing.assert_allclose(float(ours_value), float(ref_value), rtol=1e-5)
  for name, grad, ref in zip("qkv", ours_grads, ref_grads):
    assert np.all(np.isfinite(grad)), name
    np.testing.assert_allclose(np.asarray(grad), ref, atol=2e-5, rtol=1e-4, err_msg=f"d{name}")


@pytest.mark.parametrize("seed", [0, 1])
def test_value_and_gradients_equal_autodiff_in_float64(seed):
  (q, k, v), mask, ct = draw(seed, jnp.float32)
  scale = D ** -0.5

  def loss(fn, q, k, v):
    return jnp.sum(fn(q, k, v, mask, scale) * ct)

  ours = jax.value_and_grad(lambda *a: loss(grouped_attention, *a), argnums=(0, 1, 2))(q, k, v)
  assert_equals_float64_autodiff(ours, q, k, v, mask, ct, scale)


@pytest.mark.parametrize("q_block", [3, 4])
def test_query_blocks_equal_autodiff_in_float64(q_block):
  """A row longer than q_block runs block by block (blocks of 3, 3, 1 and 4, 3 queries here), each with keys
  up to its last query: with a causal mask that is the same attention, in value and gradients."""
  length = 7
  (q, k, v), mask, ct = draw(5, jnp.float32)
  k, v = k[:, :length], v[:, :length]
  causal = np.tril(np.ones((length, length), bool))
  mask = (mask[:, :, :length] | np.eye(length, dtype=bool)) & causal
  # Queries that see no key (padding), in the first and a later block. Their outputs (a mean of the values
  # offered, fewer of them when blocked) are ignored by the model, so they carry no cotangent.
  for row in ((0, 2), (1, 5)):
    mask, ct = mask.at[row].set(False), ct.at[row].set(0.0)
  scale = D ** -0.5

  def loss(q, k, v):
    return jnp.sum(grouped_attention(q, k, v, mask, scale, q_block) * ct)

  ours = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))(q, k, v)
  assert_equals_float64_autodiff(ours, q, k, v, mask, ct, scale)
  with pytest.raises(ValueError, match="self-attention over one row: 7 queries but 9 keys"):
    (q9, k9, v9), mask9, _ = draw(6, jnp.float32)
    grouped_attention(q9, k9, v9, mask9, scale, q_block)


def test_query_that_sees_nothing_gets_zero_gradient():
  (q, k, v), mask, ct = draw(2, jnp.float32)
  d_q = jax.grad(lambda q: jnp.sum(grouped_attention(q, k, v, mask, 0.5) * ct))(q)
  np.testing.assert_array_equal(np.asarray(d_q[0, 2]), 0.0)
  assert np.any(np.asarray(d_q[1]) != 0.0)


def test_bfloat16_inputs_track_float32():
  (q, k, v), mask, ct = draw(3, jnp.float32)
  f = jax.grad(lambda q, k, v: jnp.sum(grouped_attention(q, k, v, mask, 0.5) * ct), argnums=(0, 1, 2))
  g32 = f(q, k, v)
  g16 = f(*(x.astype(jnp.bfloat16) for x in (q, k, v)))
  for a, b in zip(g32, g16):
    assert b.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(b, np.float32), np.asarray(a), atol=0.08, rtol=0.05)


@pytest.mark.parametrize("length", [1, 3])
def test_heads_major_cache_attention_equals_float64(length):
  """The decoding path (k/v in the cache's heads-major layout; one query per row takes its own matmul
  order) against the float64 reference, including a row whose query sees no key."""
  (q, k, v), mask, _ = draw(4 + length, jnp.float32)
  q, mask = q[:, :length], mask[:, :length]
  if length == 1:
    mask = mask.at[0].set(False)
  kh, vh = (jnp.transpose(x, (0, 2, 1, 3)) for x in (k, v))
  ours = jax.jit(grouped_attention_heads_major_kv, static_argnums=4)(q, kh, vh, mask, D ** -0.5)
  assert ours.shape == q.shape and np.all(np.isfinite(np.asarray(ours)))
  with jax.enable_x64():
    ref = np.asarray(naive(*(jnp.asarray(np.asarray(x), jnp.float64) for x in (q, k, v)), mask, D ** -0.5))
  np.testing.assert_allclose(np.asarray(ours), ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("length, slots, extent", [
    (3, 1300, 1), (3, 1300, 700), (3, 1300, 1024), (3, 1300, 1025), (3, 1300, 1300), (9, 515, 515),
    (1, 2100, 1800), (1, 2100, 2100)])
def test_cache_attention_over_written_blocks_equals_float64(length, slots, extent):
  """Attention over the cache's written blocks only (the keys past `extent` unread, the last block taken at
  S - block when S is no multiple of it) against the float64 reference over the whole cache, whose keys past
  `extent` are masked, as a cache's unwritten slots are. One query takes this path from 4 blocks of cache on."""
  rng = np.random.default_rng(slots + extent)
  q = rng.normal(size=(B, length, K, G, D))
  k, v = rng.normal(size=(B, slots, K, D)), rng.normal(size=(B, slots, K, D))
  mask = (rng.random((B, length, slots)) < 0.7) & (np.arange(slots) < extent)
  mask[:, :, 0] = True  # every real query sees a key (in the decoder, at least itself)
  mask[0, 0] = False  # a padding query: sees no key
  q, k, v = (jnp.asarray(x, jnp.float32) for x in (q, k, v))
  mask = jnp.asarray(mask)
  kh, vh = (jnp.transpose(x, (0, 2, 1, 3)) for x in (k, v))
  ours = jax.jit(grouped_attention_heads_major_kv, static_argnums=4)(q, kh, vh, mask, D ** -0.5, extent)
  with jax.enable_x64():
    ref = np.asarray(naive(*(jnp.asarray(np.asarray(x), jnp.float64) for x in (q, k, v)), mask, D ** -0.5))
  ours, ref = np.array(ours), np.array(ref)
  assert np.all(np.isfinite(ours))  # the padding query too: its (ignored) output is some average of values
  ours[0, 0], ref[0, 0] = 0.0, 0.0
  np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=1e-5)
