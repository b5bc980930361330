"""Building blocks: parameters with logical axis names, projections, RMSNorm, the SwiGLU MLP.

Every parameter of the decoder layers is stacked over layers (leading "layers" axis) whether or not the forward
pass scans, so checkpoints and conversion tables do not depend on `scan_layers`. Module `__call__`s are written
for one layer's slice of those stacks.
"""
from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from meta_rfft.sharding.rules import constrain


def param(rngs: nnx.Rngs | None, shape: Sequence[int], logical: Sequence[str | None], dtype, *,
          std: float | None = None, value: float | None = None) -> nnx.Param:
  """A Param with `logical_axes` metadata (read by meta_rfft.sharding to place it on the mesh)."""
  if len(shape) != len(logical):
    raise ValueError(f"parameter shape {tuple(shape)} and logical axes {tuple(logical)} differ in rank")
  if value is not None:
    init = jnp.full(shape, value, dtype)
  else:
    init = (std * jax.random.normal(rngs.params(), shape, jnp.float32)).astype(dtype)
  return nnx.Param(init, logical_axes=tuple(logical))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def contract(x: jax.Array, kernel: jax.Array, n_in: int) -> jax.Array:
  """x [..., *in] . kernel [*in, *out] -> [..., *out], contracting x's trailing `n_in` dims.

  Autodiff would give the same gradients, but it writes the kernel's gradient as dot(dy, x) followed by a
  transpose, and XLA:CPU turns that transpose into a transposed copy of dy fused with dy's elementwise producer
  (the SwiGLU backward): a strided loop that cost more than the matmul itself. Here the kernel gradient is one
  dot contracting x's and dy's leading dims, in the kernel's own dim order, which the matmul reads in place.
  """
  return _contract_fwd(x, kernel, n_in)[0]


def _contract_fwd(x, kernel, n_in):
  dims = ((tuple(range(x.ndim - n_in, x.ndim)), tuple(range(n_in))), ((), ()))
  return jax.lax.dot_general(x, kernel, dims), (x, kernel)


def _contract_bwd(n_in, res, dy):
  x, kernel = res
  n_lead = x.ndim - n_in
  d_x = jax.lax.dot_general(dy, kernel, ((tuple(range(n_lead, dy.ndim)), tuple(range(n_in, kernel.ndim))),
                                         ((), ())))
  d_kernel = jax.lax.dot_general(x, dy, ((tuple(range(n_lead)), tuple(range(n_lead))), ((), ())))
  return d_x.astype(x.dtype), d_kernel.astype(kernel.dtype)


contract.defvjp(_contract_fwd, _contract_bwd)


class Projection(nnx.Module):
  """y = x . W (+ b) contracting the trailing `in_shape` dims of x; the kernel is stacked over layers.

  `adapter` is where parameter-efficient fine-tuning attaches (LoRA/PiSSA, see meta_rfft.train.adapters): a
  module mapping the same input to the same output shape, added to the frozen projection.
  """

  def __init__(self, in_shape: Sequence[int], out_shape: Sequence[int], in_axes: Sequence[str],
               out_axes: Sequence[str], *, num_layers: int, use_bias: bool, std: float, param_dtype,
               dtype, rngs: nnx.Rngs):
    self.in_shape, self.out_shape = tuple(in_shape), tuple(out_shape)
    self.dtype = dtype
    self.kernel = param(rngs, (num_layers, *in_shape, *out_shape), ("layers", *in_axes, *out_axes),
                        param_dtype, std=std)
    self.bias = (param(rngs, (num_layers, *out_shape), ("layers", *out_axes), param_dtype, std=std)
                 if use_bias else None)
    self.adapter = None

  def __call__(self, x: jax.Array) -> jax.Array:
    n_in = len(self.in_shape)
    kernel = self.kernel[...].astype(self.dtype)
    y = contract(x.astype(self.dtype), kernel, n_in)
    if self.bias is not None:
      y = y + self.bias[...].astype(self.dtype)
    if self.adapter is not None:
      y = y + self.adapter(x).astype(y.dtype)
    return y


class RMSNorm(nnx.Module):

  def __init__(self, size: int, eps: float, *, num_layers: int | None, param_dtype, dtype):
    shape, axes = ((num_layers, size), ("layers", "norm")) if num_layers else ((size,), ("norm",))
    self.scale = param(None, shape, axes, param_dtype, value=1.0)
    self.eps, self.dtype = eps, dtype

  def __call__(self, x: jax.Array) -> jax.Array:
    # As transformers does: normalise in float32, cast back, then scale in the compute dtype.
    x32 = x.astype(jnp.float32)
    x32 = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.eps)
    return self.scale[...].astype(self.dtype) * x32.astype(self.dtype)


class MLP(nnx.Module):
  """SwiGLU: down(silu(gate(x)) * up(x))."""

  def __init__(self, hidden: int, intermediate: int, *, num_layers: int, use_bias: bool, std: float,
               param_dtype, dtype, rngs: nnx.Rngs):
    common = dict(num_layers=num_layers, use_bias=use_bias, std=std, param_dtype=param_dtype, dtype=dtype,
                  rngs=rngs)
    self.gate_proj = Projection((hidden,), (intermediate,), ("embed",), ("mlp",), **common)
    self.up_proj = Projection((hidden,), (intermediate,), ("embed",), ("mlp",), **common)
    self.down_proj = Projection((intermediate,), (hidden,), ("mlp",), ("embed",), **common)

  def __call__(self, x: jax.Array) -> jax.Array:
    h = jax.nn.silu(self.gate_proj(x)) * self.up_proj(x)
    h = constrain(h, ("act_batch", "act_length", "act_mlp"))
    return self.down_proj(h)
