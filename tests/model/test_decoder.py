"""The decoder on one device: packing, padding, visibility rules, scan/remat/dtype variants, KV cache."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from meta_rfft.model import Decoder, KVCache, Visibility, from_hf_config, register_rule

ARCH = dict(model_type="llama", vocab_size=61, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, head_dim=8, rope_theta=777.0, initializer_range=0.2)


@pytest.fixture(scope="module")
def model():
  return Decoder(from_hf_config(ARCH), rngs=nnx.Rngs(3))


@pytest.fixture(scope="module")
def forward():
  @nnx.jit
  def f(model, tokens, positions, segment_ids):
    return model(tokens, positions, segment_ids)[0]
  return f


def test_packed_row_equals_examples_one_by_one(model, forward):
  rng = np.random.default_rng(0)
  lengths = [5, 7, 4]
  examples = [rng.integers(0, 61, size=n) for n in lengths]
  row_len = 20
  tokens = np.zeros((1, row_len), np.int32)
  positions = np.zeros((1, row_len), np.int32)
  segments = np.zeros((1, row_len), np.int32)
  start = 0
  for seg, ex in enumerate(examples, start=1):
    tokens[0, start:start + len(ex)] = ex
    positions[0, start:start + len(ex)] = np.arange(len(ex))
    segments[0, start:start + len(ex)] = seg
    start += len(ex)
  tokens[0, start:] = rng.integers(0, 61, size=row_len - start)  # padding content must not matter
  packed = np.asarray(forward(model, tokens, positions, segments))
  start = 0
  for ex in examples:
    alone, _ = model(jnp.asarray(ex[None]))
    np.testing.assert_allclose(packed[0, start:start + len(ex)], np.asarray(alone[0]), atol=2e-5, rtol=1e-5)
    start += len(ex)


def test_padding_never_leaks(model, forward):
  rng = np.random.default_rng(1)
  tokens = rng.integers(0, 61, size=(2, 12)).astype(np.int32)
  segments = np.ones((2, 12), np.int32)
  segments[0, 8:] = 0
  segments[1, :3] = 0  # left padding
  positions = np.maximum(np.cumsum(segments, axis=1) - 1, 0).astype(np.int32)
  base = np.asarray(forward(model, tokens, positions, segments))
  other = tokens.copy()
  other[segments == 0] = rng.integers(0, 61, size=int((segments == 0).sum()))
  changed = np.asarray(forward(model, other, positions, segments))
  real = segments > 0
  np.testing.assert_allclose(base[real], changed[real], atol=1e-6)
  assert np.isfinite(base).all()


def _hide_marked(q, k):
  # Tokens marked hidden=1 are seen by nobody but themselves (they can still see the rest).
  return (k["hidden"] == 0) | (q["slot"] == k["slot"])


register_rule("test_hide_marked", _hide_marked)


def test_visibility_rule_equals_removing_hidden_tokens(model):
  rng = np.random.default_rng(2)
  tokens = rng.integers(0, 61, size=(1, 10)).astype(np.int32)
  hidden = np.zeros((1, 10), np.int32)
  hidden[0, [2, 3, 6]] = 1
  positions = np.arange(10, dtype=np.int32)[None]
  vis = Visibility(ids={"hidden": jnp.asarray(hidden), "slot": jnp.asarray(positions)}, rule="test_hide_marked")
  with_rule, _ = model(jnp.asarray(tokens), jnp.asarray(positions), visibility=vis)
  keep = hidden[0] == 0
  removed, _ = model(jnp.asarray(tokens[:, keep]), jnp.asarray(positions[:, keep]))
  np.testing.assert_allclose(np.asarray(with_rule)[0, keep], np.asarray(removed)[0], atol=2e-5, rtol=1e-5)
  # and the rule really changes something: without it the visible tokens' logits differ
  plain, _ = model(jnp.asarray(tokens), jnp.asarray(positions))
  assert np.abs(np.asarray(plain)[0, keep][3:] - np.asarray(removed)[0][3:]).max() > 1e-3


def test_unknown_visibility_rule_is_named(model):
  vis = Visibility(ids={"x": jnp.zeros((1, 3), jnp.int32)}, rule="no_such_rule")
  with pytest.raises(KeyError, match="no_such_rule"):
    model(jnp.ones((1, 3), jnp.int32), visibility=vis)


@pytest.mark.parametrize("variant", [dict(scan_layers=False), dict(remat_policy="full"),
                                     dict(scan_layers=False, remat_policy="dots")])
def test_scan_unroll_and_remat_agree_in_value_and_gradient(variant):
  cfg = from_hf_config(ARCH)
  rng = np.random.default_rng(3)
  tokens = jnp.asarray(rng.integers(0, 61, size=(2, 9)).astype(np.int32))

  def loss_and_grad(c):
    m = Decoder(c, rngs=nnx.Rngs(5))
    def loss(m):
      logits, _ = m(tokens)
      return jnp.mean(jax.nn.log_softmax(logits)[..., 7])
    return nnx.value_and_grad(loss)(m)

  ref_loss, ref_grad = loss_and_grad(cfg)
  loss, grad = loss_and_grad(cfg.replace(**variant))
  np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
  for a, b in zip(jax.tree.leaves(ref_grad), jax.tree.leaves(grad)):
    np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-4)


def test_bfloat16_params_and_compute_track_float32(model):
  cfg = from_hf_config(ARCH, param_dtype="bfloat16", dtype="bfloat16")
  low = Decoder(cfg, rngs=nnx.Rngs(3))
  assert low.layers.attn.q_proj.kernel[...].dtype == jnp.bfloat16
  tokens = jnp.asarray(np.random.default_rng(4).integers(0, 61, size=(2, 8)).astype(np.int32))
  hi_logits, _ = model(tokens)
  lo_logits, _ = low(tokens)
  assert lo_logits.dtype == jnp.float32
  # Same init (the same random draw rounded to bf16): logits agree to bf16 accuracy.
  np.testing.assert_allclose(lo_logits, hi_logits, atol=0.15, rtol=0.05)
  assert float(jnp.mean(jnp.argmax(lo_logits, -1) == jnp.argmax(hi_logits, -1))) > 0.8
  # Jitted, prefill and then one-token steps (matmuls with few rows, which XLA:CPU routes differently).
  graphdef, state = nnx.split(low)

  @jax.jit
  def run(state, tokens, positions, cache):
    return nnx.merge(graphdef, state)(tokens, positions=positions, cache=cache)

  cache = KVCache.empty(cfg, 2, 16)
  prefill, cache = run(state, tokens[:, :5], jnp.broadcast_to(jnp.arange(5, dtype=jnp.int32), (2, 5)), cache)
  steps = [prefill]
  for i in range(5, 8):
    step, cache = run(state, tokens[:, i:i + 1], jnp.full((2, 1), i, jnp.int32), cache)
    steps.append(step)
  np.testing.assert_allclose(jnp.concatenate(steps, axis=1), lo_logits, atol=0.15, rtol=0.05)


@pytest.mark.parametrize("scan_layers", [True, False])
def test_kv_cache_prefill_then_steps_equals_full_forward(scan_layers):
  """Both cache layouts: [layers, ...] stacks threaded through the scan, and one buffer per unrolled layer
  (with the layers' parameters sliced once, as the decoding loop does)."""
  model = Decoder(from_hf_config(ARCH, scan_layers=scan_layers), rngs=nnx.Rngs(3))
  cfg = model.config
  rng = np.random.default_rng(5)
  tokens = jnp.asarray(rng.integers(0, 61, size=(2, 11)).astype(np.int32))
  full, _ = model(tokens)
  cache = KVCache.empty(cfg, 2, 16)
  assert isinstance(cache.k, tuple) == (not scan_layers) and cache.max_len == 16
  layer_params = None if scan_layers else model.per_layer_params()
  logits, cache = model(tokens[:, :6], cache=cache, layer_params=layer_params)
  outs = [logits]
  for i in range(6, 11):
    step, cache = model(tokens[:, i:i + 1], positions=jnp.full((2, 1), i, jnp.int32), cache=cache,
                        layer_params=layer_params)
    outs.append(step)
  np.testing.assert_allclose(jnp.concatenate(outs, axis=1), full, atol=2e-5, rtol=1e-5)
  assert int(cache.end) == 11
  # The cache holds exactly the keys a full pass computes, heads-major, in the written slots only.
  k0 = cache.k[0]  # layer 0: the first per-layer buffer, or the stack's first slice
  assert k0.shape == (2, cfg.arch.num_kv_heads, 16, cfg.arch.head_dim)
  assert np.any(np.asarray(k0[:, :, :11]) != 0) and np.all(np.asarray(k0[:, :, 11:]) == 0)


def test_cache_layout_and_layer_params_mismatches_are_refused(model):
  unrolled = Decoder(from_hf_config(ARCH, scan_layers=False), rngs=nnx.Rngs(3))
  tokens = jnp.ones((1, 3), jnp.int32)
  with pytest.raises(ValueError, match="KVCache k/v must be"):
    model(tokens, cache=KVCache.empty(unrolled.config, 1, 8))  # per-layer buffers for a scanning model
  with pytest.raises(ValueError, match="KVCache k/v must be"):
    unrolled(tokens, cache=KVCache.empty(model.config, 1, 8))  # stacks for an unrolled model
  with pytest.raises(ValueError, match="per_layer_params: the model scans its layers"):
    model.per_layer_params()
  with pytest.raises(ValueError, match="layer_params must be per_layer_params"):
    unrolled(tokens, layer_params=unrolled.per_layer_params()[:1])
