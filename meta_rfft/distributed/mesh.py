"""The global mesh across hosts, as `meta_rfft.distributed` names it, and how many slices the devices form.

The mesh itself, single- or multi-slice (`mesh.dcn_shape`), is built by meta_rfft/sharding/mesh.py.
"""
from __future__ import annotations

import math
from typing import Sequence

import jax
from jax.sharding import Mesh

from meta_rfft.sharding import mesh as mesh_lib

# Under the names the trainer and the evaluator call (through meta_rfft/distributed/__init__.py).
global_mesh_from_config = mesh_lib.mesh_from_config


def make_global_mesh(ici_shape: Sequence[int], dcn_shape: Sequence[int] | None = None,
                     axes: Sequence[str] = mesh_lib.DEFAULT_AXES,
                     devices: Sequence[jax.Device] | None = None) -> Mesh:
  """`meta_rfft.sharding.mesh.make_mesh` with the per-slice and slice shapes first, as multi-host code
  reads them."""
  return mesh_lib.make_mesh(ici_shape, axes, devices, dcn_shape)


def num_slices(devices: Sequence[jax.Device] | None = None) -> int:
  devices = list(devices) if devices is not None else jax.devices()
  attr = mesh_lib.slice_attr(devices)
  return len({getattr(d, attr) for d in devices})


def describe(mesh: Mesh) -> str:
  """One line for logs: axis sizes and how many processes the mesh spans."""
  procs = len({d.process_index for d in mesh.devices.flat})
  axes = ", ".join(f"{n}={s}" for n, s in mesh.shape.items())
  return f"mesh({axes}) over {math.prod(mesh.devices.shape)} devices in {procs} process(es)"
