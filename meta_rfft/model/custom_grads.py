"""Hand-written backward passes for the decoder's matmul blocks (attention's is attention_core.py).

Each computes exactly what autodiff computes; what differs is what the forward pass keeps for the backward pass
and which layouts the backward pass asks for:

- Autodiff writes a kernel's gradient as dot(dy, x) followed by a transpose. XLA:CPU turns that transpose into a
  transposed copy of dy fused with dy's elementwise producer (e.g. the SwiGLU backward): a strided loop that
  cost more than the matmul itself. Here the kernel gradient is one dot contracting x's and dy's token dims, in
  the kernel's own dim order, which the matmul reads in place.
- Autodiff of SwiGLU keeps gate, up, sigmoid(gate), silu(gate) and their product for the backward pass; with a
  scanned layer stack each is a [layers, B, L, intermediate] buffer written in the forward and read in the
  backward. swiglu_down keeps only gate and up and recomputes the rest elementwise; rms_norm likewise keeps only
  its input and the per-token 1/rms.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp


def _dot(a: jax.Array, b: jax.Array, dims) -> jax.Array:
  """The forward passes' matmuls: accumulate and return float32 (callers cast back).

  With bfloat16 operands XLA:CPU runs a float32-output dot on its bfloat16 matmul kernels, faster than the
  float32 matmul it upcasts a bfloat16-output dot's operands to (tests/benchmarks/train_throughput.py measures
  both rates). On TPU and GPU the matmul units accumulate in float32 either way."""
  return jax.lax.dot_general(a, b, dims, preferred_element_type=jnp.float32)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def contract(x: jax.Array, kernel: jax.Array, n_in: int, platform: str) -> jax.Array:
  """x [..., *in] . kernel [*in, *out] -> [..., *out], contracting x's trailing `n_in` dims; `platform`: the one
  the program compiles for, which picks the backward pass's matmul forms."""
  return _contract_fwd(x, kernel, n_in, platform)[0]


def contract_value(x: jax.Array, kernel: jax.Array, n_in: int) -> jax.Array:
  """contract's forward computation, for plain autodiff."""
  dims = ((tuple(range(x.ndim - n_in, x.ndim)), tuple(range(n_in))), ((), ()))
  return _dot(x, kernel, dims).astype(jnp.result_type(x, kernel))


def _contract_fwd(x, kernel, n_in, platform):
  del platform
  return contract_value(x, kernel, n_in), (x, kernel)


def _backward_dot(a: jax.Array, b: jax.Array, dims, platform: str) -> jax.Array:
  """The backward passes' matmuls, returning the operands' dtype.

  On CPUs this goes through a float32-output dot: XLA:CPU runs bfloat16 operands on its bfloat16 kernels only
  for a float32 output, and upcasts them to a slower float32 matmul otherwise (the bfloat16 step of
  tests/benchmarks/train_throughput.py shows the difference). On TPU and GPU the matmul units accumulate in
  float32 whatever the output type, and there a float32 output made XLA:TPU keep more device memory for the
  32B PiSSA step (docs/performance.md "Training throughput" has the figures)."""
  if platform == "cpu":
    return _dot(a, b, dims).astype(jnp.result_type(a, b))
  return jax.lax.dot_general(a, b, dims)


def _kernel_grad(x, dy, n_in, platform):
  """d kernel [*in, *out] = x^T . dy over the leading (token) dims.

  XLA:CPU's matmul reads its left operand transposed here, so it copies that operand into [features, tokens]
  order first: in float32 the narrower of x and dy goes on the left (for SwiGLU's down projection, dy rather
  than the intermediate-wide h), and the small [*out, *in] result is transposed instead. On CPUs in bfloat16 x
  stays on the left: jaxlib 0.10.2's XLA:CPU has no bfloat16 kernel for the swapped dot with its transposed
  float32 output and fails at run time ("Unsupported element type for DotThunk::Execute: BF16 x BF16 = F32")."""
  n_lead = x.ndim - n_in
  lead = tuple(range(n_lead))
  cpu_bfloat16 = jnp.bfloat16 in (x.dtype, dy.dtype) and platform == "cpu"
  if cpu_bfloat16 or math.prod(dy.shape[n_lead:]) >= math.prod(x.shape[n_lead:]):
    return _backward_dot(x, dy, ((lead, lead), ((), ())), platform)
  n_out = dy.ndim - n_lead
  swapped = _backward_dot(dy, x, ((lead, lead), ((), ())), platform)  # [*out, *in]
  return jnp.transpose(swapped, tuple(range(n_out, n_out + n_in)) + tuple(range(n_out)))


def _input_grad(dy, kernel, n_in, platform):
  """d x [..., *in] = dy . kernel^T over the out dims."""
  n_lead = dy.ndim - (kernel.ndim - n_in)
  return _backward_dot(dy, kernel, ((tuple(range(n_lead, dy.ndim)), tuple(range(n_in, kernel.ndim))), ((), ())),
                       platform)


def _contract_bwd(n_in, platform, res, dy):
  x, kernel = res
  return (_input_grad(dy, kernel, n_in, platform).astype(x.dtype),
          _kernel_grad(x, dy, n_in, platform).astype(kernel.dtype))


contract.defvjp(_contract_fwd, _contract_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def swiglu_down(gate: jax.Array, up: jax.Array, kernel: jax.Array, platform: str) -> jax.Array:
  """(silu(gate) * up) . kernel: gate, up [..., F], kernel [F, E] -> [..., E] (SwiGLU's down projection)."""
  return _swiglu_down_fwd(gate, up, kernel, platform)[0]


def swiglu_down_value(gate: jax.Array, up: jax.Array, kernel: jax.Array) -> jax.Array:
  """swiglu_down's forward computation, for plain autodiff."""
  return contract_value(jax.nn.silu(gate) * up, kernel, 1)


def _swiglu_down_fwd(gate, up, kernel, platform):
  del platform
  return swiglu_down_value(gate, up, kernel), (gate, up, kernel)


def _swiglu_down_bwd(platform, res, dy):
  gate, up, kernel = res
  sig = jax.nn.sigmoid(gate)
  silu = gate * sig
  d_h = _input_grad(dy, kernel, 1, platform)
  d_up = d_h * silu
  d_gate = d_h * up * (sig * (1 + gate * (1 - sig)))  # silu'(g) = sigmoid(g) (1 + g (1 - sigmoid(g)))
  return (d_gate.astype(gate.dtype), d_up.astype(up.dtype),
          _kernel_grad(silu * up, dy, 1, platform).astype(kernel.dtype))


swiglu_down.defvjp(_swiglu_down_fwd, _swiglu_down_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def rms_norm(x: jax.Array, scale: jax.Array, eps: float, offset: float = 0.0) -> jax.Array:
  """(offset + scale) * x / rms(x), as transformers computes it: Llama's (offset 0) normalises in float32 and
  scales in scale's dtype; Gemma's (offset 1, weights stored around 0) scales in float32 too and casts the result.

  Keeps x and the per-token 1/rms for the backward pass (autodiff kept float32 copies of x and of the
  normalised x as well)."""
  return _rms_norm_fwd(x, scale, eps, offset)[0]


def _rms_norm_fwd(x, scale, eps, offset):
  x32 = x.astype(jnp.float32)
  inv_rms = jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + eps)
  if offset:
    out = ((x32 * inv_rms) * (offset + scale.astype(jnp.float32))).astype(scale.dtype)
  else:
    out = scale * (x32 * inv_rms).astype(scale.dtype)
  return out, (x, inv_rms, scale)


def _rms_norm_bwd(eps, offset, res, dy):
  del eps
  x, inv_rms, scale = res
  normed = x.astype(jnp.float32) * inv_rms
  dy32 = dy.astype(jnp.float32)
  d_scale = jnp.sum(dy32 * normed, axis=tuple(range(dy.ndim - 1)))
  d_normed = dy32 * (offset + scale.astype(jnp.float32))
  d_x = inv_rms * (d_normed - normed * jnp.mean(d_normed * normed, axis=-1, keepdims=True))
  return d_x.astype(x.dtype), d_scale.astype(scale.dtype)


rms_norm.defvjp(_rms_norm_fwd, _rms_norm_bwd)


def rms_norm_value(x: jax.Array, scale: jax.Array, eps: float, offset: float = 0.0) -> jax.Array:
  """rms_norm's forward computation, for plain autodiff."""
  return _rms_norm_fwd(x, scale, eps, offset)[0]


_GELU_C = math.sqrt(2.0 / math.pi)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def geglu_down(gate: jax.Array, up: jax.Array, kernel: jax.Array, platform: str) -> jax.Array:
  """(gelu_tanh(gate) * up) . kernel: GeGLU's down projection (Gemma), kept lean as swiglu_down is."""
  return _geglu_down_fwd(gate, up, kernel, platform)[0]


def geglu_down_value(gate: jax.Array, up: jax.Array, kernel: jax.Array) -> jax.Array:
  """geglu_down's forward computation, for plain autodiff."""
  return contract_value(jax.nn.gelu(gate, approximate=True) * up, kernel, 1)


def _geglu_down_fwd(gate, up, kernel, platform):
  del platform
  return geglu_down_value(gate, up, kernel), (gate, up, kernel)


def _geglu_down_bwd(platform, res, dy):
  gate, up, kernel = res
  g = gate.astype(jnp.float32)
  t = jnp.tanh(_GELU_C * (g + 0.044715 * g ** 3))
  gelu = (0.5 * g * (1 + t)).astype(gate.dtype)
  # d/dg [0.5 g (1 + tanh(u))] with u = c (g + 0.044715 g^3)
  d_gelu = 0.5 * (1 + t) + 0.5 * g * (1 - t * t) * _GELU_C * (1 + 3 * 0.044715 * g * g)
  d_h = _input_grad(dy, kernel, 1, platform)
  d_up = d_h * gelu
  d_gate = d_h.astype(jnp.float32) * up.astype(jnp.float32) * d_gelu
  return (d_gate.astype(gate.dtype), d_up.astype(up.dtype),
          _kernel_grad(gelu * up, dy, 1, platform).astype(kernel.dtype))


geglu_down.defvjp(_geglu_down_fwd, _geglu_down_bwd)
