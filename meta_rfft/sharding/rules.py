"""Logical axis names -> mesh axes.

The model names the axes of every parameter and of its key activations with logical names ("embed", "mlp",
"q_heads", "act_batch", ...). Which mesh axis (if any) each name is split over is a table that lives in config
(`sharding.rules`), so changing the parallelism never touches model code. A dimension that the mesh axes do not
divide evenly stays replicated rather than failing (e.g. 2 KV heads on a tensor axis of 4).
"""
from __future__ import annotations

import contextlib
import threading
from typing import Iterable, Mapping, Sequence

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

MeshAxes = str | tuple[str, ...] | None
Rules = Mapping[str, MeshAxes]

# FSDP shards the weights' embed dimension and the batch; tensor parallelism splits heads, MLP and vocab.
DEFAULT_RULES: dict[str, MeshAxes] = {
    # parameters
    "vocab": "tensor",
    "embed": "fsdp",
    "q_heads": "tensor",
    "kv_heads": "tensor",
    "head_dim": None,
    "mlp": "tensor",
    "layers": None,
    "norm": None,
    "lora_rank": None,
    "lora_in": ("tensor", "fsdp"),  # adapter factors' flattened input / output dims
    "lora_out": ("tensor", "fsdp"),
    # activations
    "act_batch": ("data", "fsdp"),
    "act_length": None,
    "act_embed": None,
    "act_heads": "tensor",
    "act_kv_heads": "tensor",
    "act_mlp": "tensor",
    "act_vocab": "tensor",
    "cache_length": None,
}


def _as_tuple(axes: MeshAxes) -> tuple[str, ...]:
  if axes is None:
    return ()
  if isinstance(axes, str):
    return (axes,)
  return tuple(axes)


def normalize_rules(rules: Rules | Iterable[Sequence]) -> dict[str, MeshAxes]:
  """Accepts a mapping or (name, axes) pairs (config files may hold either) and checks the values."""
  items = rules.items() if isinstance(rules, Mapping) else rules
  out = {}
  for item in items:
    name, axes = item
    if axes is not None and not isinstance(axes, (str, tuple, list)):
      raise ValueError(f"sharding.rules[{name!r}] must be a mesh axis name, a list of them or None, got {axes!r}")
    out[str(name)] = tuple(axes) if isinstance(axes, list) else axes
  return out


def logical_to_spec(logical: Sequence[str | None], shape: Sequence[int] | None, mesh: Mesh,
                    rules: Rules) -> PartitionSpec:
  """The PartitionSpec for an array whose dims carry `logical` names; uneven or reused mesh axes drop out."""
  used: set[str] = set()
  spec = []
  for i, name in enumerate(logical):
    if name is None:
      spec.append(None)
      continue
    if name not in rules:
      raise KeyError(f"logical axis {name!r} has no entry in sharding.rules (known: {sorted(rules)})")
    axes = [a for a in _as_tuple(rules[name]) if a in mesh.shape and a not in used and mesh.shape[a] > 1]
    if shape is not None:
      # Keep the longest prefix of axes whose product divides the dimension.
      kept, size = [], 1
      for a in axes:
        if shape[i] % (size * mesh.shape[a]) == 0:
          kept.append(a)
          size *= mesh.shape[a]
        else:
          break
      axes = kept
    used.update(axes)
    spec.append(None if not axes else axes[0] if len(axes) == 1 else tuple(axes))
  return PartitionSpec(*spec)


# The rules and mesh in force for activation constraints inside a model call (set by `use_sharding`).
_context = threading.local()


@contextlib.contextmanager
def use_sharding(mesh: Mesh | None, rules: Rules | None):
  """Makes `constrain` active: inside, activations are pinned to the mesh by their logical names."""
  previous = getattr(_context, "value", None)
  _context.value = (mesh, dict(rules or DEFAULT_RULES)) if mesh is not None else None
  try:
    yield
  finally:
    _context.value = previous


def current_mesh_and_rules() -> tuple[Mesh, dict] | None:
  return getattr(_context, "value", None)


def constrain(x: jax.Array, logical: Sequence[str | None]) -> jax.Array:
  """with_sharding_constraint by logical names; a no-op outside `use_sharding` (e.g. single device)."""
  ctx = current_mesh_and_rules()
  if ctx is None:
    return x
  mesh, rules = ctx
  spec = logical_to_spec(logical, x.shape, mesh, rules)
  return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec))
