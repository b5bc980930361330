"""Several TPU slices over the data-centre network (multislice): the DCN mesh axis the program's config gets.

Nothing of JAX's multislice setup is passed from here: in a queued resource created with `--node-count`, the
TPU runtime writes MEGASCALE_COORDINATOR_ADDRESS / MEGASCALE_NUM_SLICES / MEGASCALE_SLICE_ID into every
worker's `tpu-env` metadata, and `jax.distributed.initialize()` reads them there (jax/_src/clusters/
cloud_tpu_cluster.py in the installed jax: "For both GCE via QueuedResources and GKE via JobSet, the Megascale
coordinator address is set"). Setting them by hand is only needed for slices created separately, one by one,
which this launcher never does: with `--num-slices`, `create` makes them as one queued resource.
"""
from __future__ import annotations

import ast
import math
from typing import Sequence

# meta_rfft.sharding.mesh.DEFAULT_AXES, copied because the launcher runs where jax may not be installed
# (tests/launch checks that the two agree).
DEFAULT_AXES = ("data", "fsdp", "tensor")
# The axis that crosses slices: pure data parallelism, one gradient all-reduce per step over DCN, while FSDP
# and tensor parallelism stay inside each slice on ICI (README "Choosing a mesh").
DCN_AXIS = "data"
DCN_KEY = "--config.mesh.dcn_shape"
AXES_KEY = "--config.mesh.axes"


def _last_override(args: Sequence[str], key: str) -> str | None:
  """The value of the last `KEY=V` or `KEY V` in the program's args (the config loader applies them in
  order)."""
  value = None
  for i, arg in enumerate(args):
    if arg.startswith(key + "="):
      value = arg[len(key) + 1:]
    elif arg == key and i + 1 < len(args):
      value = args[i + 1]
  return value


def _parse_tuple(text: str, key: str) -> tuple:
  # The config loader's reading of a tuple override: a Python literal, else comma-separated items.
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    value = [v.strip() for v in text.split(",") if v.strip()]
  if not isinstance(value, (tuple, list)):
    value = [value]
  if not value:
    raise ValueError(f"{key}={text!r} is empty")
  return tuple(value)


def check_dcn_shape(text: str, num_slices: int) -> tuple[int, ...]:
  """The user's dcn_shape, refused unless it spans exactly `num_slices` slices."""
  try:
    shape = tuple(int(s) for s in _parse_tuple(text, DCN_KEY))
  except (TypeError, ValueError):
    raise ValueError(f"{DCN_KEY}={text!r}: expected a tuple of integers such as (2,1,1)") from None
  known = math.prod(s for s in shape if s != -1)
  wildcards = sum(s == -1 for s in shape)
  if any(s == 0 or s < -1 for s in shape) or wildcards > 1:
    raise ValueError(f"{DCN_KEY}={text!r}: sizes must be positive, with at most one -1")
  spans = (num_slices % known == 0) if wildcards else (known == num_slices)
  if not spans:
    raise ValueError(f"{DCN_KEY}={text!r} spans {known}{' x -1' if wildcards else ''} slices but "
                     f"--num-slices={num_slices}: the product of the DCN axes must be the number of slices")
  return shape


def with_dcn_shape(args: Sequence[str], num_slices: int) -> tuple[list[str], str]:
  """The program's args for a run over `num_slices` slices, and a note saying what was decided.

  A user's `--config.mesh.dcn_shape` is kept if it spans the slices (else ValueError naming the flag);
  without one, `--config.mesh.dcn_shape=(N,1,1)` puts the slices on the `data` axis of `mesh.axes` (the
  default axes, or the user's `--config.mesh.axes`). One slice: the args unchanged.
  """
  args = list(args)
  if num_slices == 1:
    return args, ""
  given = _last_override(args, DCN_KEY)
  if given is not None:
    check_dcn_shape(given, num_slices)
    return args, f"multislice: {DCN_KEY}={given} as given (spans the {num_slices} slices)"
  axes_text = _last_override(args, AXES_KEY)
  axes = tuple(str(a) for a in _parse_tuple(axes_text, AXES_KEY)) if axes_text is not None else DEFAULT_AXES
  if DCN_AXIS not in axes:
    raise ValueError(f"{AXES_KEY}={axes_text!r} has no {DCN_AXIS!r} axis to spread the {num_slices} slices "
                     f"over: give {DCN_KEY}=... yourself (one entry per axis, product {num_slices})")
  shape = tuple(num_slices if a == DCN_AXIS else 1 for a in axes)
  value = "(" + ",".join(map(str, shape)) + ")"
  return args + [f"{DCN_KEY}={value}"], (
      f"multislice: added {DCN_KEY}={value} (data parallel over the {num_slices} slices across the "
      f"data-centre network; mesh.shape stays per slice); pass {DCN_KEY} yourself for another layout")

