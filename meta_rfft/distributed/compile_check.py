"""Ahead-of-time compile of a step for the configured mesh and batch, and the memory each device needs.

`compile_only` lowers and compiles a jitted function against abstract inputs (jax.ShapeDtypeStruct carrying
their shardings), so nothing is allocated and no data is read; a config that would not fit fails here, before
a pod is held for hours. XLA's numbers are per device: the compiled program is the per-device SPMD program.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Sequence

import jax

from meta_rfft.distributed import topology

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(value: int | float | str, where: str = "device_memory_budget") -> int:
  """'16GiB', '95 GB', '1.5e9', 17179869184 -> bytes. Binary (GiB) and decimal (GB) units are distinct."""
  if isinstance(value, (int, float)) and not isinstance(value, bool):
    if value < 0:
      raise ValueError(f"{where}={value!r} must not be negative")
    return int(value)
  m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(value))
  if not m or m.group(2).lower() not in _UNITS:
    raise ValueError(f"{where}={value!r} is not a size such as '16GiB', '80GB' or a number of bytes")
  return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def format_bytes(n: int) -> str:
  for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
    if abs(n) >= size:
      return f"{n / size:.2f} {unit}"
  return f"{n} B"


@dataclasses.dataclass(frozen=True)
class MemoryReport:
  """Per-device bytes of one compiled program."""
  arguments: int  # inputs resident on the device (params, optimizer state, batch)
  outputs: int
  aliased: int  # outputs written in place of donated inputs (counted once)
  temporaries: int  # activations, gradients in flight, collective buffers
  generated_code: int
  peak: int  # XLA's own peak estimate when the backend reports one (0 otherwise)

  @property
  def total(self) -> int:
    """What the device must hold at once: the usual arguments + outputs - aliased + temporaries + code."""
    return self.arguments + self.outputs - self.aliased + self.temporaries + self.generated_code

  def lines(self) -> list[str]:
    rows = [("arguments", self.arguments), ("outputs", self.outputs), ("aliased (donated)", -self.aliased),
            ("temporaries", self.temporaries), ("generated code", self.generated_code),
            ("total per device", self.total)]
    if self.peak:
      rows.append(("XLA peak estimate", self.peak))
    return [f"  {name:<20s} {format_bytes(v):>12s}  ({v} bytes)" for name, v in rows]


def memory_report(compiled: Any) -> MemoryReport:
  stats = compiled.memory_analysis()
  if stats is None:
    raise RuntimeError("this backend's compiled executable reports no memory_analysis(); cannot check memory")
  return MemoryReport(arguments=int(stats.argument_size_in_bytes), outputs=int(stats.output_size_in_bytes),
                      aliased=int(stats.alias_size_in_bytes), temporaries=int(stats.temp_size_in_bytes),
                      generated_code=int(stats.generated_code_size_in_bytes),
                      peak=int(getattr(stats, "peak_memory_in_bytes", 0) or 0))


def device_memory_limit(devices: Sequence[jax.Device] | None = None) -> int | None:
  """The smallest memory limit among `devices` (default: the local ones); None if none is known (CPU)."""
  limits = [topology.device_memory(d) for d in (devices if devices is not None else jax.local_devices())]
  return min(limits) if limits and all(l is not None for l in limits) else None


def input_devices(tree: Any) -> list[jax.Device]:
  """The devices the abstract inputs are laid out on (those of the first leaf that carries a sharding)."""
  for leaf in jax.tree.leaves(tree):
    sharding = getattr(leaf, "sharding", None)
    if sharding is not None:
      return sorted(sharding.device_set, key=lambda d: d.id)
  return list(jax.devices())


def measure(step_fn: Callable, *abstract_args: Any, name: str = "train_step",
            **abstract_kwargs: Any) -> MemoryReport:
  """Lowers and compiles `step_fn` for the abstract inputs; returns its per-device memory."""
  if not hasattr(step_fn, "lower"):
    raise TypeError(f"compile_only: {name} must be a jax.jit-ed function (got {type(step_fn).__name__})")
  return memory_report(step_fn.lower(*abstract_args, **abstract_kwargs).compile())


def compile_only(step_fn: Callable, *abstract_args: Any, budget: int | float | str | None = None,
                 name: str = "train_step", print_fn: Callable[[str], None] | None = None,
                 **abstract_kwargs: Any) -> int:
  """Compiles `step_fn` (a jax.jit-ed function) for abstract inputs, prints per-device memory, checks the fit.

  Args:
    step_fn: the jitted step, with its in/out shardings and donation exactly as training uses it.
    *abstract_args, **abstract_kwargs: pytrees of jax.ShapeDtypeStruct with `sharding=` set (or concrete
      arrays); e.g. `jax.eval_shape` of the state with the shardings attached, and the global batch.
    budget: per-device bytes allowed ('16GiB', '80GB' or an int). None: the devices' own limit when the
      runtime reports one (TPU, GPU), or the published HBM of compile-only TPU devices (`target_devices`);
      on CPU, no limit.
    name: what to call the function in the report.
    print_fn: where the report goes (default: stdout, process 0 only, so a pod prints it once).

  Returns:
    0 if it fits, 1 if the per-device total exceeds the budget: entry points end with `sys.exit(code)`.
  """
  if print_fn is None:
    print_fn = (lambda s: print(s, flush=True)) if jax.process_index() == 0 else (lambda s: None)
  devices = input_devices((abstract_args, abstract_kwargs))
  limit = parse_bytes(budget) if budget is not None else device_memory_limit(devices)
  advice = "Shard more (mesh fsdp/tensor axes), lower the per-device batch, or enable remat."
  try:
    report = measure(step_fn, *abstract_args, name=name, **abstract_kwargs)
  except jax.errors.JaxRuntimeError as e:
    # A TPU compiler refuses a program that cannot fit instead of reporting its size: the same verdict.
    if "RESOURCE_EXHAUSTED" not in str(e):
      raise
    reason = str(e).strip().splitlines()[0].rstrip(".")
    print_fn(f"[compile_only] DOES NOT FIT: XLA could not compile {name} for "
             f"{topology.describe_devices(devices)}: {reason}. {advice}")
    return 1
  print_fn(f"[compile_only] {name}: compiled for {topology.describe_devices(devices)}; memory per device:")
  for line in report.lines():
    print_fn(line)
  if limit is None:
    print_fn("[compile_only] no device memory budget (set one to check the fit); OK")
    return 0
  if report.total > limit:
    print_fn(f"[compile_only] DOES NOT FIT: {name} needs {format_bytes(report.total)} per device, over the "
             f"budget of {format_bytes(limit)} by {format_bytes(report.total - limit)}. {advice}")
    return 1
  print_fn(f"[compile_only] fits: {format_bytes(report.total)} of {format_bytes(limit)} per device "
           f"({100 * report.total / limit:.1f}%)")
  return 0
