"""The device mesh: named axes whose sizes come from config (`mesh.axes`, `mesh.shape`; one size may be -1),
optionally spread over several slices (`mesh.dcn_shape`).

One slice (a TPU pod slice, or one GPU node) is connected by fast links (ICI / NVLink); slices talk to each
other over the data-centre network (DCN). Collectives over an axis that crosses DCN are slow, so only axes
with little traffic per step (`data`: one gradient all-reduce; sometimes `fsdp`) should span slices.
`mesh.dcn_shape` (same length as `mesh.shape`, default all 1) says how many slices each axis spans;
`mesh.shape` is then the per-slice shape and the global axis size is the product of the two.
"""
from __future__ import annotations

import math
from typing import Sequence

import jax
import numpy as np
from jax.experimental import mesh_utils
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


def slice_attr(devices: Sequence[jax.Device]) -> str:
  """The device attribute that tells slices apart. Multi-slice TPUs label devices with distinct slice_index
  values; elsewhere (GPU nodes, CPU processes, where every device reports slice 0 or none) each process is a
  slice."""
  slices = {getattr(d, "slice_index", None) for d in devices}
  return "slice_index" if len(slices) > 1 and None not in slices else "process_index"


def make_mesh(shape: Sequence[int], axes: Sequence[str] = DEFAULT_AXES,
              devices: Sequence[jax.Device] | None = None, dcn_shape: Sequence[int] | None = None) -> Mesh:
  """A mesh over all devices of all processes (or the given ones). Axes are Auto: XLA propagates shardings
  between our constraints.

  Args:
    shape: per-slice axis sizes (`mesh.shape`); one entry may be -1 (what is left of a slice's devices).
    axes: the axis names, as in `mesh.axes`.
    devices: defaults to jax.devices(); compile-only devices (meta_rfft/distributed/topology.py) work too.
    dcn_shape: how many slices each axis spans (`mesh.dcn_shape`); one entry may be -1 (what is left of the
      slices). None or all ones: one slice (or one process group treated as one slice).
  """
  devices = list(devices) if devices is not None else jax.devices()
  single = dcn_shape is None or all(int(s) == 1 for s in dcn_shape)
  if len(shape) != len(axes) or not (single or len(dcn_shape) == len(axes)):
    dcn = "" if single else f", config.mesh.dcn_shape={tuple(dcn_shape)}"
    raise ValueError(f"config.mesh.shape={tuple(shape)}{dcn} and config.mesh.axes={tuple(axes)} must have "
                     "the same length (one size per axis)")
  axis_types = (AxisType.Auto,) * len(axes)
  if single:
    resolved = resolve_shape(shape, len(devices))
    return jax.make_mesh(resolved, tuple(axes), axis_types=axis_types, devices=devices)
  attr = slice_attr(devices)
  groups: dict[int, list[jax.Device]] = {}
  for d in devices:
    groups.setdefault(getattr(d, attr), []).append(d)
  sizes = {len(g) for g in groups.values()}
  if len(sizes) != 1:
    raise ValueError(f"every slice must have the same number of devices to build a hybrid mesh; by {attr}: "
                     f"{ {k: len(v) for k, v in sorted(groups.items())} }")
  dcn = resolve_shape(dcn_shape, len(groups), key="mesh.dcn_shape")
  ici = resolve_shape(shape, sizes.pop(), key="mesh.shape (per slice)")
  device_array = mesh_utils.create_hybrid_device_mesh(
      ici, dcn, devices, process_is_granule=(attr == "process_index"))
  assert device_array.shape == tuple(i * d for i, d in zip(ici, dcn)), device_array.shape
  return Mesh(np.asarray(device_array), tuple(axes), axis_types=axis_types)


def mesh_from_config(mesh_cfg, devices: Sequence[jax.Device] | None = None) -> Mesh:
  """`mesh_cfg` is the run config's `mesh` section: `shape`, `axes` and optionally `dcn_shape`.

  `devices` defaults to all devices of all processes; pass `meta_rfft.distributed.target_devices(...)` to
  compile for a TPU slice that is not attached.
  """
  dcn = tuple(mesh_cfg.dcn_shape) if "dcn_shape" in mesh_cfg else None
  return make_mesh(tuple(mesh_cfg.shape), tuple(mesh_cfg.axes), devices, dcn)
