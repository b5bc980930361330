"""Reading a SLURM job step's environment: process count, rank, and the first node (the coordinator).

We compute these ourselves instead of letting `jax.distributed.initialize` auto-detect SLURM because JAX's
detection also pins each process to the single GPU `SLURM_LOCALID`, which is wrong for our layout of one
process per node driving all of its GPUs.
"""
from __future__ import annotations

import re
from typing import Mapping

_STEP_VARS = ("SLURM_JOB_ID", "SLURM_NTASKS", "SLURM_PROCID")


def in_job_step(environ: Mapping[str, str]) -> bool:
  """True inside `srun` (a job step); the batch script itself has no SLURM_STEP_NODELIST."""
  return all(v in environ for v in _STEP_VARS) and bool(_nodelist(environ))


def _nodelist(environ: Mapping[str, str]) -> str:
  return environ.get("SLURM_STEP_NODELIST") or environ.get("SLURM_JOB_NODELIST") or ""


def _int(environ: Mapping[str, str], name: str) -> int:
  try:
    return int(environ[name])
  except (KeyError, ValueError):
    raise ValueError(f"SLURM environment variable {name}={environ.get(name)!r} must be an integer") from None


def num_tasks(environ: Mapping[str, str]) -> int:
  # Inside a step SLURM_STEP_NUM_TASKS is the step's size; SLURM_NTASKS may be the whole allocation's.
  name = "SLURM_STEP_NUM_TASKS" if "SLURM_STEP_NUM_TASKS" in environ else "SLURM_NTASKS"
  return _int(environ, name)


def proc_id(environ: Mapping[str, str]) -> int:
  return _int(environ, "SLURM_PROCID")


def default_port(environ: Mapping[str, str]) -> int:
  """A port in [61440, 65535] derived from the job id (the same rule as JAX), so concurrent jobs differ."""
  return 61440 + _int(environ, "SLURM_JOB_ID") % 4096


def first_host(environ: Mapping[str, str]) -> str:
  nodelist = _nodelist(environ)
  if not nodelist:
    raise ValueError("SLURM_STEP_NODELIST / SLURM_JOB_NODELIST is empty: cannot find the coordinator node")
  return first_host_of(nodelist)


def first_host_of(nodelist: str) -> str:
  """The first host of a compressed SLURM hostlist, the same one `scontrol show hostnames | head -1` prints.

  Handles 'a1', 'a1,b2', 'gpu[003-010,012],cpu7', 'rack1-n[07-09]' and zero padding ('n[007-010]' -> n007).
  """
  text = nodelist.strip()
  m = re.match(r"([^,\[]*)(\[([^\]]*)\])?([^,]*)", text)
  if not m or not (m.group(1) or m.group(2)):
    raise ValueError(f"cannot parse SLURM nodelist {nodelist!r}")
  prefix, ranges, suffix = m.group(1), m.group(3), m.group(4)
  if "[" in suffix:
    raise ValueError(f"SLURM nodelist {nodelist!r} has several bracket ranges in one name; set "
                     "JAX_COORDINATOR_ADDRESS from `scontrol show hostnames` instead")
  if ranges is None:
    return prefix + suffix
  first = ranges.split(",")[0].split("-")[0].strip()
  if not first.isdigit():
    raise ValueError(f"cannot parse the range {ranges!r} of SLURM nodelist {nodelist!r}")
  # SLURM lists ranges in ascending order, so the lowest number of the first range is the first host.
  return prefix + first + suffix
