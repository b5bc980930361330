"""LoRA and PiSSA adapters on the decoder's projections, and merging them back into plain weights.

An adapter adds `scale * (x @ A) @ B` to a projection's output, where the projection kernel [in..., out...] is
seen as a matrix [in_flat, out_flat]: A is [in_flat, r], B is [r, out_flat]. Like every layer parameter, A and B
are stacked over layers (leading axis), because the decoder slices each layer's parameters in its forward pass.

- LoRA: A ~ N(0, 1/in_flat), B = 0, scale = alpha / r; the base kernel is frozen as is.
- PiSSA (Meng et al. 2024, the Meta-RFFT paper's method): per layer, W = U S V^T; A = U_r sqrt(S_r),
  B = sqrt(S_r) V_r^T (the top-r singular triplets), scale = 1, and the frozen kernel becomes the residual
  W - A B. The initial forward pass therefore equals the base model's (up to float rounding).

Adapter parameters are `nnx.LoRAParam`s, so `nnx.LoRAParam` is the filter for "trainable" and the rest of the
`nnx.Param`s are frozen. `merge_adapters` folds trained adapters into the kernels for export.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from meta_rfft.model.decoder import Decoder

METHODS = ("none", "lora", "pissa")
# Short target names (as in the paper's and PEFT's configs) -> where the projection lives in the decoder.
TARGETS = {
    "q": ("layers", "attn", "q_proj"),
    "k": ("layers", "attn", "k_proj"),
    "v": ("layers", "attn", "v_proj"),
    "o": ("layers", "attn", "o_proj"),
    "gate": ("layers", "mlp", "gate_proj"),
    "up": ("layers", "mlp", "up_proj"),
    "down": ("layers", "mlp", "down_proj"),
}


def default_config() -> ml_collections.ConfigDict:
  """The `adapter` block of a run config."""
  c = ml_collections.ConfigDict()
  c.method = "none"  # none (full fine-tuning) | lora | pissa
  c.rank = 8
  c.alpha = 16.0  # LoRA only: scale = alpha / rank (PiSSA uses scale 1; its A, B carry the magnitudes)
  c.targets = ("q", "k", "v", "o", "gate", "up", "down")
  return c


def check_config(cfg) -> None:
  if cfg.method not in METHODS:
    raise ValueError(f"config.adapter.method={cfg.method!r} unknown; choose from {METHODS}")
  if cfg.method == "none":
    return
  if int(cfg.rank) < 1:
    raise ValueError(f"config.adapter.rank={cfg.rank} must be >= 1")
  bad = [t for t in cfg.targets if t not in TARGETS]
  if bad or not cfg.targets:
    raise ValueError(f"config.adapter.targets={tuple(cfg.targets)}: unknown {bad}; choose from {sorted(TARGETS)}")


def scale_of(cfg) -> float:
  return 1.0 if cfg.method == "pissa" else float(cfg.alpha) / int(cfg.rank)


class LoRA(nnx.Module):
  """Adds scale * (x @ A) @ B; A, B stacked over layers. Called with one layer's slice (as the decoder does)."""

  def __init__(self, in_shape: Sequence[int], out_shape: Sequence[int], *, num_layers: int, rank: int,
               scale: float, dtype, rngs: nnx.Rngs):
    self.in_shape, self.out_shape = tuple(in_shape), tuple(out_shape)
    n_in, n_out = math.prod(in_shape), math.prod(out_shape)
    self.scale, self.dtype = scale, dtype
    a = jax.random.normal(rngs.params(), (num_layers, n_in, rank), jnp.float32) / math.sqrt(n_in)
    # The flattened in/out dims ("lora_in" / "lora_out") are split over every parameter axis of the mesh
    # (tensor, then fsdp, by default), whatever the kernel's own axis: with the kernel's axes alone, B of
    # q/k/v/gate/up (out = heads or mlp, over tensor) and A of o/down stayed whole on every device of an
    # fsdp-only mesh (docs/running_at_scale.md, "Memory arithmetic for the paper's recipes"). Head-major flattening keeps the
    # tensor split on whole heads. The rank stays whole (32 does not divide over a large mesh).
    self.a = nnx.LoRAParam(a, logical_axes=("layers", "lora_in", "lora_rank"))
    self.b = nnx.LoRAParam(jnp.zeros((num_layers, rank, n_out), jnp.float32),
                           logical_axes=("layers", "lora_rank", "lora_out"))

  def __call__(self, x: jax.Array) -> jax.Array:
    lead = x.shape[:x.ndim - len(self.in_shape)]
    flat = x.reshape(*lead, -1).astype(self.dtype)
    y = (flat @ self.a[...].astype(self.dtype)) @ self.b[...].astype(self.dtype)
    return (self.scale * y).reshape(*lead, *self.out_shape)


def _module_at(model: nnx.Module, path: Sequence[str]) -> nnx.Module:
  node = model
  for name in path:
    node = getattr(node, name)
  return node


def attach(model: Decoder, cfg, *, seed: int = 0) -> Decoder:
  """Puts a LoRA module (fresh LoRA init) on every targeted projection of `model`, in place."""
  check_config(cfg)
  if cfg.method == "none":
    return model
  rngs = nnx.Rngs(params=seed)
  for target in cfg.targets:
    proj = _module_at(model, TARGETS[target])
    # `adapter` starts as None (static in NNX's eyes): nnx.data marks the module as part of the state.
    proj.adapter = nnx.data(LoRA(proj.in_shape, proj.out_shape, num_layers=model.config.arch.num_layers,
                                 rank=int(cfg.rank), scale=scale_of(cfg), dtype=proj.dtype, rngs=rngs))
  return model


def _get(tree: Mapping, path: Sequence[str]):
  for name in path:
    tree = tree[name]
  return tree


def _with(tree: Mapping, path: Sequence[str], key: str, value) -> dict:
  """A copy of nested dict `tree` with tree[path][key] = value (siblings shared, not copied)."""
  if not path:
    return {**tree, key: value}
  return {**tree, path[0]: _with(tree[path[0]], path[1:], key, value)}


def _pissa_one(kernel: jax.Array, n_in: int, rank: int):
  """kernel [layers, *in, *out] with prod(in) = n_in -> (residual same shape, A [layers,n_in,r], B [layers,r,out])."""
  layers = kernel.shape[0]
  w = kernel.astype(jnp.float32).reshape(layers, n_in, -1)
  if rank > min(w.shape[1:]):
    raise ValueError(f"config.adapter.rank={rank} exceeds the smaller side of a {w.shape[1:]} kernel")
  u, s, vt = jnp.linalg.svd(w, full_matrices=False)
  root = jnp.sqrt(s[:, :rank])
  a = u[:, :, :rank] * root[:, None, :]
  b = root[:, :, None] * vt[:, :rank, :]
  residual = (w - a @ b).reshape(kernel.shape).astype(kernel.dtype)
  return residual, a, b


def init_from_base(params: Mapping, adapters: Mapping, cfg) -> tuple[dict, dict]:
  """Given base params and freshly initialised LoRA adapters (pure dicts), the (frozen params, adapters) to train.

  LoRA: unchanged. PiSSA: A, B from each targeted kernel's top-`rank` singular triplets, kernel -> residual.
  Pure function of arrays: run it under jit (with output shardings) for sharded models.
  """
  if cfg.method != "pissa":
    return dict(params), dict(adapters)
  params, adapters = dict(params), dict(adapters)
  for target in cfg.targets:
    path = TARGETS[target]
    kernel = _get(params, path)["kernel"]
    a_old = _get(adapters, path)["adapter"]["a"]
    residual, a, b = _pissa_one(kernel, a_old.shape[1], int(cfg.rank))
    params = _with(params, path, "kernel", residual)
    adapters = _with(adapters, path, "adapter", {"a": a.astype(a_old.dtype), "b": b.astype(a_old.dtype)})
  return params, adapters


def merge_adapters(params: Mapping, adapters: Mapping | None, adapter_cfg) -> dict:
  """Plain weights with the adapters folded in: kernel + scale * A @ B (reshaped to the kernel's shape).

  Args:
    params: the trainer's `params` item (pure dict; with PiSSA the frozen residual kernels).
    adapters: the trainer's `adapters` item (pure dict), or None/empty for full fine-tuning.
    adapter_cfg: the run's `adapter` config block, or the `adapter` dict stored in the checkpoint's `meta`.

  Returns:
    A pure dict with the structure of the base model's params (what conversion exports).
  """
  cfg = ml_collections.ConfigDict(dict(adapter_cfg)) if isinstance(adapter_cfg, Mapping) else adapter_cfg
  if cfg.method == "none" or not adapters:
    return dict(params)
  check_config(cfg)
  scale = scale_of(cfg)
  merged = dict(params)
  for target in cfg.targets:
    path = TARGETS[target]
    kernel = _get(params, path)["kernel"]
    ad = _get(adapters, path)["adapter"]
    a, b = jnp.asarray(ad["a"], jnp.float32), jnp.asarray(ad["b"], jnp.float32)
    delta = (scale * (a @ b)).reshape(kernel.shape)
    merged = _with(merged, path, "kernel", (jnp.asarray(kernel, jnp.float32) + delta).astype(kernel.dtype))
  return merged


def split_params(pure: Mapping[str, Any]) -> tuple[dict, dict]:
  """Separates a model's full pure state into (base params, adapters): adapter subtrees sit under 'adapter'."""
  def walk(tree):
    base, ad = {}, {}
    for k, v in tree.items():
      if k == "adapter":
        ad[k] = v
      elif isinstance(v, Mapping):
        b, a = walk(v)
        if b:
          base[k] = b
        if a:
          ad[k] = a
      else:
        base[k] = v
    return base, ad
  return walk(pure)


def join_params(base: Mapping, adapters: Mapping | None) -> dict:
  """Inverse of split_params: one nested dict for nnx.merge."""
  if not adapters:
    return dict(base)
  out = dict(base)
  for k, v in adapters.items():
    out[k] = join_params(out[k], v) if k in out and isinstance(v, Mapping) else v
  return out
