"""The global mesh across hosts, with some axes split over the slow network (DCN) and the rest inside a slice.

One slice (a TPU pod slice, or one GPU node) is connected by fast links (ICI / NVLink); slices talk to each
other over the data-centre network. Collectives over an axis that crosses DCN are slow, so only axes with
little traffic per step (`data`: one gradient all-reduce; sometimes `fsdp`) should span slices. The config
says how many slices each axis spans: `mesh.dcn_shape` (same length as `mesh.shape`, default all 1). Then
`mesh.shape` is the per-slice (ICI) shape and the global axis size is the product of the two.

With every `dcn_shape` entry 1 this is exactly `meta_rfft.sharding.mesh.make_mesh` (one slice, or one
process group treated as one slice).
"""
from __future__ import annotations

import math
from typing import Sequence

import jax
import numpy as np
from jax.experimental import mesh_utils
from jax.sharding import AxisType, Mesh

from meta_rfft.sharding import mesh as mesh_lib


def _granule_attr(devices: Sequence[jax.Device]) -> str:
  """Multi-slice TPUs label devices with distinct slice_index values; elsewhere (GPU nodes, CPU processes, where
  every device reports slice 0 or none) each process is a slice."""
  slices = {getattr(d, "slice_index", None) for d in devices}
  return "slice_index" if len(slices) > 1 and None not in slices else "process_index"


def num_slices(devices: Sequence[jax.Device] | None = None) -> int:
  devices = list(devices) if devices is not None else jax.devices()
  attr = _granule_attr(devices)
  return len({getattr(d, attr) for d in devices})


def make_global_mesh(ici_shape: Sequence[int], dcn_shape: Sequence[int] | None = None,
                     axes: Sequence[str] = mesh_lib.DEFAULT_AXES,
                     devices: Sequence[jax.Device] | None = None) -> Mesh:
  """The mesh over all devices of all hosts.

  Args:
    ici_shape: per-slice axis sizes (`mesh.shape`); one entry may be -1 (what is left of a slice's devices).
    dcn_shape: how many slices each axis spans (`mesh.dcn_shape`); one entry may be -1 (what is left of the
      slices). None or all ones: a single-slice mesh (`meta_rfft.sharding.mesh.make_mesh`).
    axes: the axis names, as in `mesh.axes`.
    devices: defaults to jax.devices() (all processes' devices).
  """
  devices = list(devices) if devices is not None else jax.devices()
  if dcn_shape is None or all(int(s) == 1 for s in dcn_shape):
    return mesh_lib.make_mesh(ici_shape, axes, devices)
  if not (len(ici_shape) == len(dcn_shape) == len(axes)):
    raise ValueError(f"mesh.shape {tuple(ici_shape)}, mesh.dcn_shape {tuple(dcn_shape)} and mesh.axes "
                     f"{tuple(axes)} must have the same length")
  attr = _granule_attr(devices)
  groups: dict[int, list[jax.Device]] = {}
  for d in devices:
    groups.setdefault(getattr(d, attr), []).append(d)
  sizes = {len(g) for g in groups.values()}
  if len(sizes) != 1:
    raise ValueError(f"every slice must have the same number of devices to build a hybrid mesh; by {attr}: "
                     f"{ {k: len(v) for k, v in sorted(groups.items())} }")
  per_slice = sizes.pop()
  dcn = mesh_lib.resolve_shape(dcn_shape, len(groups), key="mesh.dcn_shape")
  ici = mesh_lib.resolve_shape(ici_shape, per_slice, key="mesh.shape (per slice)")
  device_array = mesh_utils.create_hybrid_device_mesh(
      ici, dcn, devices, process_is_granule=(attr == "process_index"))
  assert device_array.shape == tuple(i * d for i, d in zip(ici, dcn)), device_array.shape
  return Mesh(np.asarray(device_array), tuple(axes), axis_types=(AxisType.Auto,) * len(axes))


def global_mesh_from_config(mesh_cfg, devices: Sequence[jax.Device] | None = None) -> Mesh:
  """`mesh_cfg` is the run config's `mesh` section: `shape`, `axes` and optionally `dcn_shape`.

  `devices` defaults to all devices of all processes; pass `target_devices(...)` to compile for a TPU slice
  that is not attached.
  """
  dcn = tuple(mesh_cfg.dcn_shape) if "dcn_shape" in mesh_cfg else None
  return make_global_mesh(tuple(mesh_cfg.shape), dcn, tuple(mesh_cfg.axes), devices=devices)


def describe(mesh: Mesh) -> str:
  """One line for logs: axis sizes and how many processes the mesh spans."""
  procs = len({d.process_index for d in mesh.devices.flat})
  axes = ", ".join(f"{n}={s}" for n, s in mesh.shape.items())
  return f"mesh({axes}) over {math.prod(mesh.devices.shape)} devices in {procs} process(es)"
