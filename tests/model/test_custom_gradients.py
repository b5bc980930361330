"""The hand-written backward passes outside attention (custom_grads: contract, swiglu_down, rms_norm;
cross_entropy.token_nll) against autodiff of the plain formulas, computed in float64 as the independent reference
(jax_enable_x64 inside the test only)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from meta_rfft.model.custom_grads import contract, rms_norm, swiglu_down
from meta_rfft.model.cross_entropy import token_nll


def to64(*xs):
  return [jnp.asarray(np.asarray(x), jnp.float64) for x in xs]


@pytest.mark.parametrize("x_shape,kernel_shape,n_in", [
    ((2, 5, 6), (6, 3, 4), 1),  # embed -> (heads, head_dim), like q_proj
    ((2, 5, 3, 4), (3, 4, 6), 2),  # (heads, head_dim) -> embed, like o_proj
    ((7, 6), (6, 9), 1),  # plain matrix, like the LM head on flattened tokens
])
def test_contract_equals_dot_general_and_its_autodiff(x_shape, kernel_shape, n_in):
  rng = np.random.default_rng(sum(x_shape) + n_in)
  x, kernel = (jnp.asarray(rng.normal(size=s), jnp.float32) for s in (x_shape, kernel_shape))
  out_shape = x_shape[:len(x_shape) - n_in] + kernel_shape[n_in:]
  ct = jnp.asarray(rng.normal(size=out_shape), jnp.float32)

  value, grads = jax.value_and_grad(lambda x, w: jnp.sum(contract(x, w, n_in, "cpu") * ct), argnums=(0, 1))(x, kernel)
  dims = ((tuple(range(len(x_shape) - n_in, len(x_shape))), tuple(range(n_in))), ((), ()))
  with jax.enable_x64():
    x64, k64, ct64 = to64(x, kernel, ct)
    ref_value, ref_grads = jax.value_and_grad(
        lambda x, w: jnp.sum(jax.lax.dot_general(x, w, dims) * ct64), argnums=(0, 1))(x64, k64)
    ref_value, ref_grads = float(ref_value), [np.asarray(g) for g in ref_grads]
  np.testing.assert_allclose(float(value), ref_value, rtol=1e-5)
  for name, ours, ref in zip(("x", "kernel"), grads, ref_grads):
    assert ours.shape == ref.shape and ours.dtype == jnp.float32, name
    np.testing.assert_allclose(np.asarray(ours), ref, rtol=1e-4, atol=1e-5, err_msg=f"d{name}")


def test_contract_keeps_bfloat16():
  rng = np.random.default_rng(7)
  x, w = (jnp.asarray(rng.normal(size=s), jnp.bfloat16) for s in ((4, 6), (6, 5)))
  d_x, d_w = jax.grad(lambda x, w: jnp.sum(contract(x, w, 1, "cpu").astype(jnp.float32) ** 2), argnums=(0, 1))(x, w)
  assert d_x.dtype == d_w.dtype == jnp.bfloat16


@pytest.mark.parametrize("x_shape,kernel_shape,n_in", [
    ((4, 128, 48), (48, 16), 1),  # wide input, narrow output (the down projection's case)
    ((4, 128, 16), (16, 48), 1),  # narrow input, wide output (gate/up)
    ((4, 128, 4, 8), (4, 8, 24), 2),  # (heads, head_dim) -> embed, like o_proj
])
@pytest.mark.parametrize("platform", ["cpu", "tpu"])  # the TPU/GPU form of the backward dots runs here too
def test_contract_bfloat16_gradients_are_float64s_rounded_once(x_shape, kernel_shape, n_in, platform):
  """The gradients' dots sum 512 tokens (the kernel's) or 16-48 features of bfloat16 products. Accumulated in
  float32 and rounded to bfloat16 once at the end, each element is the float64 result within one bfloat16 ulp
  (2^-7 relative); summed in bfloat16, the kernel gradient's 512-term sums drift by many ulps."""
  rng = np.random.default_rng(sum(x_shape) + sum(kernel_shape))
  x, kernel = (jnp.asarray(rng.normal(size=s), jnp.bfloat16) for s in (x_shape, kernel_shape))
  out_shape = x_shape[:len(x_shape) - n_in] + kernel_shape[n_in:]
  ct = jnp.asarray(rng.normal(size=out_shape), jnp.bfloat16)
  _, vjp = jax.vjp(lambda x, w: contract(x, w, n_in, platform), x, kernel)
  grads = vjp(ct)
  dims = ((tuple(range(len(x_shape) - n_in, len(x_shape))), tuple(range(n_in))), ((), ()))
  with jax.enable_x64():
    x64, k64, ct64 = to64(x.astype(jnp.float32), kernel.astype(jnp.float32), ct.astype(jnp.float32))
    _, vjp64 = jax.vjp(lambda x, w: jax.lax.dot_general(x, w, dims), x64, k64)
    ref_grads = [np.asarray(g) for g in vjp64(ct64)]
  for name, ours, ref in zip(("x", "kernel"), grads, ref_grads):
    assert ours.dtype == jnp.bfloat16 and ours.shape == ref.shape, name
    ours = np.asarray(ours, np.float64)
    # One ulp of the reference's magnitude; near-zero sums (cancellation) get the ulp of the typical element.
    ulp = np.maximum(np.abs(ref), np.median(np.abs(ref))) * 2.0**-7
    assert np.all(np.abs(ours - ref) <= ulp), (name, float(np.max(np.abs(ours - ref) / ulp)))


def test_token_nll_value_and_gradient_equal_float64_autodiff():
  rng = np.random.default_rng(3)
  logits = jnp.asarray(rng.normal(size=(3, 5, 11)) * 4, jnp.float32)
  targets = jnp.asarray(rng.integers(0, 11, size=(3, 5)), jnp.int32)
  weights = jnp.asarray(rng.random((3, 5)) * (rng.random((3, 5)) < 0.7), jnp.float32)  # some weights 0

  value, grad = jax.value_and_grad(lambda l: jnp.sum(token_nll(l, targets) * weights))(logits)
  with jax.enable_x64():
    l64, w64 = to64(logits, weights)
    ref = jax.value_and_grad(lambda l: jnp.sum(
        -jnp.take_along_axis(jax.nn.log_softmax(l, axis=-1), targets[..., None], axis=-1)[..., 0] * w64))(l64)
    ref_value, ref_grad = float(ref[0]), np.asarray(ref[1])
  np.testing.assert_allclose(float(value), ref_value, rtol=1e-5)
  np.testing.assert_allclose(np.asarray(grad), ref_grad, rtol=1e-4, atol=1e-6)
  # a token with weight 0 gets exactly zero gradient
  zero = np.asarray(weights) == 0
  assert zero.any() and np.all(np.asarray(grad)[zero] == 0)


def test_swiglu_down_value_and_gradients_equal_float64_autodiff():
  rng = np.random.default_rng(11)
  gate, up = (jnp.asarray(rng.normal(size=(2, 5, 8)) * 3, jnp.float32) for _ in range(2))
  kernel = jnp.asarray(rng.normal(size=(8, 6)), jnp.float32)
  ct = jnp.asarray(rng.normal(size=(2, 5, 6)), jnp.float32)

  value, grads = jax.value_and_grad(lambda g, u, w: jnp.sum(swiglu_down(g, u, w, "cpu") * ct), argnums=(0, 1, 2))(
      gate, up, kernel)
  with jax.enable_x64():
    g64, u64, k64, ct64 = to64(gate, up, kernel, ct)
    ref_value, ref_grads = jax.value_and_grad(
        lambda g, u, w: jnp.sum(((jax.nn.silu(g) * u) @ w) * ct64), argnums=(0, 1, 2))(g64, u64, k64)
    ref_value, ref_grads = float(ref_value), [np.asarray(g) for g in ref_grads]
  np.testing.assert_allclose(float(value), ref_value, rtol=1e-5)
  for name, ours, ref in zip(("gate", "up", "kernel"), grads, ref_grads):
    np.testing.assert_allclose(np.asarray(ours), ref, rtol=1e-4, atol=1e-5, err_msg=f"d{name}")


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_rms_norm_value_and_gradients_equal_float64_autodiff(dtype):
  rng = np.random.default_rng(5)
  x = jnp.asarray(rng.normal(size=(3, 4, 16)) * 2 + 0.5, dtype)
  scale = jnp.asarray(rng.normal(size=(16,)), dtype)
  ct = jnp.asarray(rng.normal(size=(3, 4, 16)), jnp.float32)
  eps = 1e-6

  value, grads = jax.value_and_grad(
      lambda x, s: jnp.sum(rms_norm(x, s, eps).astype(jnp.float32) * ct), argnums=(0, 1))(x, scale)
  with jax.enable_x64():
    x64, s64, ct64 = to64(x.astype(jnp.float32), scale.astype(jnp.float32), ct)
    ref_value, ref_grads = jax.value_and_grad(lambda x, s: jnp.sum(
        s * x / jnp.sqrt(jnp.mean(x * x, axis=-1, keepdims=True) + eps) * ct64), argnums=(0, 1))(x64, s64)
    ref_value, ref_grads = float(ref_value), [np.asarray(g) for g in ref_grads]
  tol = dict(rtol=1e-4, atol=1e-4) if dtype == jnp.float32 else dict(rtol=0.05, atol=0.1)
  np.testing.assert_allclose(float(value), ref_value, **tol)
  for name, ours, ref in zip(("x", "scale"), grads, ref_grads):
    assert ours.dtype == dtype, name
    np.testing.assert_allclose(np.asarray(ours, np.float32), ref, **tol, err_msg=f"d{name}")


@pytest.mark.parametrize("scan_layers", [True, False])
def test_whole_decoder_gradients_equal_plain_autodiff(scan_layers):
  """model.custom_grads=false runs the same forward pass under plain autodiff: the loss and every parameter's
  gradient agree with the hand-written backward passes (both in float32: the decoder accumulates in float32 by
  design; each hand-written pass is checked against float64 above)."""
  from flax import nnx
  from meta_rfft.config.defaults import tiny_arch
  from meta_rfft.model.config import from_hf_config
  from meta_rfft.model.decoder import Decoder
  from meta_rfft.model.ops import Ops

  arch = tiny_arch(48, hidden_size=32, layers=2, heads=4, kv_heads=2, intermediate_size=40)
  rng = np.random.default_rng(11)
  tokens = jnp.asarray(rng.integers(3, 48, size=(2, 12)), jnp.int32)
  targets = jnp.asarray(rng.integers(3, 48, size=(2, 12)), jnp.int32)
  weights = jnp.asarray(rng.random((2, 12)) < 0.7, jnp.float32)
  results = {}
  for custom in (True, False):
    cfg = from_hf_config(arch, scan_layers=scan_layers, custom_grads=custom)
    graphdef, params = nnx.split(Decoder(cfg, rngs=nnx.Rngs(0)))

    def loss(params, graphdef=graphdef, cfg=cfg):
      logits, _ = nnx.merge(graphdef, params)(tokens)
      return jnp.sum(Ops.of(cfg).token_nll(logits, targets) * weights)
    results[custom] = jax.value_and_grad(loss)(params)
  (v_custom, g_custom), (v_plain, g_plain) = results[True], results[False]
  np.testing.assert_allclose(float(v_custom), float(v_plain), rtol=1e-6)
  flat_custom, flat_plain = (dict(jax.tree_util.tree_leaves_with_path(g.to_pure_dict())) for g in (g_custom, g_plain))
  assert flat_custom.keys() == flat_plain.keys()
  for path, ours in flat_custom.items():
    plain = np.asarray(flat_plain[path])
    assert np.abs(plain).max() > 0, path  # every parameter gets a gradient
    np.testing.assert_allclose(np.asarray(ours), plain, rtol=2e-4, atol=2e-6, err_msg=jax.tree_util.keystr(path))
