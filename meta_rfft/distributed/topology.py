"""Compiling for a TPU slice you do not hold: compile-only devices of a named topology, and their memory.

With libtpu installed (`pip install -e '.[tpu]'`, no TPU needed), XLA can compile for any TPU topology from a
CPU machine: `target_devices("v5e:16x16")` returns the 256 devices of a v5e-256 as compile-only devices; a mesh
built on them (`make_global_mesh(..., devices=...)`) lowers and compiles like the real one, so `compile_only`
reports the per-device memory of a config before any slice is reserved.
"""
from __future__ import annotations

from typing import Sequence

import jax
from jax.experimental import topologies

GIB = 2**30
# HBM per device as published per generation (JAX's device_kind); compile-only devices cannot report memory.
# The runtime reserves a little of it: leave headroom.
TPU_HBM_BYTES = {
    "TPU v4": 32 * GIB,
    "TPU v5 lite": 16 * GIB,  # v5e
    "TPU v5": 95 * GIB,  # v5p
    "TPU v6 lite": 32 * GIB,  # v6e (Trillium)
}
EXAMPLES = "v5e:16x16 (a v5e-256), v5e:4x4 (v5e-16), v5p:2x4x4 (v5p-64), v4:2x2x4 (v4-32), v6e:8x8 (v6e-64)"


def target_devices(topology: str, num_slices: int = 1) -> list[jax.Device]:
  """The compile-only devices of `num_slices` slices of TPU `topology` ('<generation>:<chips per dimension>')."""
  if ":" not in topology:
    raise ValueError(f"TPU topology {topology!r} must be '<generation>:<shape>', e.g. {EXAMPLES}")
  if num_slices < 1:
    raise ValueError(f"num_slices={num_slices} must be >= 1")
  kwargs = {"num_slices": num_slices} if num_slices > 1 else {}
  try:
    desc = topologies.get_topology_desc(topology, platform="tpu", **kwargs)
  except RuntimeError as e:
    if "not installed" in str(e):
      raise RuntimeError(f"compiling for TPU topology {topology!r} needs libtpu on this machine (no TPU needed): "
                         f"pip install -e '.[tpu]'") from e
    raise ValueError(f"TPU topology {topology!r}: {e}; examples: {EXAMPLES}") from e
  return list(desc.devices)


def device_memory(device: jax.Device) -> int | None:
  """Bytes a device can hold: what its runtime reports, else the published HBM of its TPU generation."""
  try:
    stats = device.memory_stats()
  except Exception:  # noqa: BLE001  (compile-only devices raise: "only supported for addressable devices")
    stats = None
  if stats and "bytes_limit" in stats:
    return int(stats["bytes_limit"])
  return TPU_HBM_BYTES.get(getattr(device, "device_kind", ""))


def describe_devices(devices: Sequence[jax.Device]) -> str:
  devices = list(devices)
  kinds = sorted({getattr(d, "device_kind", d.platform) for d in devices})
  procs = len({d.process_index for d in devices})
  return f"{len(devices)} x {'/'.join(kinds)} devices on {procs} host(s)"
