"""The device mesh: named axes whose sizes come from config (`mesh.axes`, `mesh.shape`; one size may be -1)."""
from __future__ import annotations

import math
from typing import Sequence

import jax
from jax.sharding import AxisType, Mesh

DEFAULT_AXES = ("data", "fsdp", "tensor")


def resolve_shape(shape: Sequence[int], num_devices: int, key: str = "mesh.shape") -> tuple[int, ...]:
  """Fills the one -1 entry with what is left of `num_devices`; names `key` in every error."""
  try:
    shape = tuple(int(s) for s in shape)
  except (TypeError, ValueError):
    raise ValueError(f"{key}={tuple(shape)}: axis sizes must be integers, one of them may be -1 (e.g. 1,-1,1)") from None
  if sum(s == -1 for s in shape) > 1:
    raise ValueError(f"{key}={shape}: at most one axis may be -1")
  if any(s == 0 or s < -1 for s in shape):
    raise ValueError(f"{key}={shape}: axis sizes must be positive or -1")
  known = math.prod(s for s in shape if s != -1)
  if -1 in shape:
    if num_devices % known:
      raise ValueError(f"{key}={shape}: {num_devices} devices are not divisible by the fixed axes ({known})")
    shape = tuple(num_devices // known if s == -1 else s for s in shape)
  if math.prod(shape) != num_devices:
    raise ValueError(f"{key}={shape} needs {math.prod(shape)} devices but {num_devices} are available")
  return shape


def make_mesh(shape: Sequence[int], axes: Sequence[str] = DEFAULT_AXES,
              devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A mesh over all (or the given) devices. Axes are Auto: XLA propagates shardings between our constraints."""
  if len(shape) != len(axes):
    raise ValueError(f"config.mesh.shape={tuple(shape)} and config.mesh.axes={tuple(axes)} must have the same "
                     "length (one size per axis)")
  devices = list(devices) if devices is not None else jax.devices()
  resolved = resolve_shape(shape, len(devices))
  return jax.make_mesh(resolved, tuple(axes), axis_types=(AxisType.Auto,) * len(axes), devices=devices)


def mesh_from_config(mesh_cfg) -> Mesh:
  """`mesh_cfg` is the `mesh` section of a run config (fields `shape` and `axes`)."""
  return make_mesh(tuple(mesh_cfg.shape), tuple(mesh_cfg.axes))
