"""Building blocks: parameters with logical axis names, projections, RMSNorm, the gated MLP (SwiGLU, GeGLU).

Every parameter of the decoder layers is stacked over layers (leading "layers" axis) whether or not the forward
pass scans, so checkpoints and conversion tables do not depend on `scan_layers`. Module `__call__`s are written
for one layer's slice of those stacks.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from meta_rfft.model.ops import Ops
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


class Projection(nnx.Module):
  """y = x . W (+ b) contracting the trailing `in_shape` dims of x; the kernel is stacked over layers.

  `adapter` is where parameter-efficient fine-tuning attaches (LoRA/PiSSA, see meta_rfft.model.adapters): a
  module mapping the same input to the same output shape, added to the frozen projection.
  """

  def __init__(self, in_shape: Sequence[int], out_shape: Sequence[int], in_axes: Sequence[str],
               out_axes: Sequence[str], *, num_layers: int, use_bias: bool, std: float, param_dtype,
               dtype, rngs: nnx.Rngs, ops: Ops):
    self.in_shape, self.out_shape = tuple(in_shape), tuple(out_shape)
    self.dtype, self.ops = dtype, ops
    self.kernel = param(rngs, (num_layers, *in_shape, *out_shape), ("layers", *in_axes, *out_axes),
                        param_dtype, std=std)
    self.bias = (param(rngs, (num_layers, *out_shape), ("layers", *out_axes), param_dtype, std=std)
                 if use_bias else None)
    self.adapter = None

  def __call__(self, x: jax.Array) -> jax.Array:
    n_in = len(self.in_shape)
    kernel = self.kernel[...].astype(self.dtype)
    y = self.ops.contract(x.astype(self.dtype), kernel, n_in)
    if self.bias is not None:
      y = y + self.bias[...].astype(self.dtype)
    if self.adapter is not None:
      y = y + self.adapter(x).astype(y.dtype)
    return y


class RMSNorm(nnx.Module):
  """x / rms(x) scaled by (offset + scale) over its last axis: Llama's (offset 0, scale starting at 1) or Gemma's
  (offset 1, scale starting at 0)."""

  def __init__(self, size: int, eps: float, *, num_layers: int | None, param_dtype, dtype, ops: Ops,
               offset: float = 0.0):
    shape, axes = ((num_layers, size), ("layers", "norm")) if num_layers else ((size,), ("norm",))
    self.scale = param(None, shape, axes, param_dtype, value=1.0 - offset)
    self.eps, self.dtype, self.ops, self.offset = eps, dtype, ops, float(offset)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.ops.rms_norm(x, self.scale[...].astype(self.dtype), self.eps, self.offset)


class MLP(nnx.Module):
  """down(act(gate(x)) * up(x)): SwiGLU (act silu) or GeGLU (act tanh-approximated GELU)."""

  def __init__(self, hidden: int, intermediate: int, *, num_layers: int, use_bias: bool, std: float,
               param_dtype, dtype, rngs: nnx.Rngs, ops: Ops, activation: str = "silu"):
    self.activation = activation
    common = dict(num_layers=num_layers, use_bias=use_bias, std=std, param_dtype=param_dtype, dtype=dtype,
                  rngs=rngs, ops=ops)
    self.ops = ops
    self.gate_proj = Projection((hidden,), (intermediate,), ("embed",), ("mlp",), **common)
    self.up_proj = Projection((hidden,), (intermediate,), ("embed",), ("mlp",), **common)
    self.down_proj = Projection((intermediate,), (hidden,), ("mlp",), ("embed",), **common)

  def __call__(self, x: jax.Array) -> jax.Array:
    gate = constrain(self.gate_proj(x), ("act_batch", "act_length", "act_mlp"))
    up = constrain(self.up_proj(x), ("act_batch", "act_length", "act_mlp"))
    down = self.down_proj
    silu = self.activation == "silu"
    if down.adapter is None and down.bias is None:
      fused = self.ops.swiglu_down if silu else self.ops.geglu_down
      return fused(gate, up, down.kernel[...].astype(down.dtype))
    # An adapter on down_proj reads h itself, so h is materialised either way: plain autodiff.
    act = jax.nn.silu(gate) if silu else jax.nn.gelu(gate, approximate=True)
    h = constrain(act * up, ("act_batch", "act_length", "act_mlp"))
    return down(h)
