"""How this process joins a multi-process run: the `distributed` config block and its resolution.

Resolution is a pure function of the settings and the environment (no JAX call), so every branch is testable
on one machine. The order is: an explicit mode; explicit coordinator/process count/id (config, then the
`JAX_COORDINATOR_ADDRESS`, `JAX_NUM_PROCESSES`, `JAX_PROCESS_ID` env vars); a SLURM job step with more than one
task; a Cloud TPU VM; otherwise a single process, for which nothing is initialised.
"""
from __future__ import annotations

import argparse
import dataclasses
import glob
import os
from typing import Any, Mapping

import ml_collections

from meta_rfft.distributed import slurm

MODES = ("auto", "none", "explicit", "slurm", "tpu")
# Launchers (launch/tpu_vm.py, launch/slurm/) set this so that the mode never depends on detection.
MODE_ENV = "META_RFFT_DISTRIBUTED"
COORDINATOR_ENV = "JAX_COORDINATOR_ADDRESS"
NUM_PROCESSES_ENV = "JAX_NUM_PROCESSES"
PROCESS_ID_ENV = "JAX_PROCESS_ID"
COORDINATOR_PORT_ENV = "JAX_COORDINATOR_PORT"
# Cloud TPU chips show up as PCI devices of Google's vendor id; this is how JAX itself recognises a TPU VM.
_GOOGLE_PCI_VENDOR = "0x1ae0"


def default_config() -> ml_collections.ConfigDict:
  """The `distributed` block of a run config; every field can be overridden with `--config.distributed.X=`."""
  c = ml_collections.ConfigDict()
  c.mode = "auto"  # one of MODES
  c.coordinator_address = ""  # "host:port" of process 0; "" -> JAX_COORDINATOR_ADDRESS or detected
  c.num_processes = 0  # 0 -> JAX_NUM_PROCESSES or detected
  c.process_id = -1  # -1 -> JAX_PROCESS_ID or detected
  c.coordinator_port = 0  # SLURM only: 0 -> derived from the job id (as JAX does), so jobs sharing a node differ
  c.local_device_ids = ""  # "0,1": the local accelerators this process drives; "" -> all of them
  c.initialization_timeout_s = 300  # how long processes wait for each other at start-up
  # A process that stops heart-beating for this long is declared dead and every other process exits:
  # the bound on how long a dead host can keep the rest of the job hanging.
  c.heartbeat_timeout_s = 100
  c.shutdown_timeout_s = 300
  c.cpu_collectives = "gloo"  # CPU-only multi-process runs (tests) need a cross-process collective library
  return c


@dataclasses.dataclass(frozen=True)
class Settings:
  mode: str = "auto"
  coordinator_address: str = ""
  num_processes: int = 0
  process_id: int = -1
  coordinator_port: int = 0
  local_device_ids: str = ""
  initialization_timeout_s: int = 300
  heartbeat_timeout_s: int = 100
  shutdown_timeout_s: int = 300
  cpu_collectives: str = "gloo"


@dataclasses.dataclass(frozen=True)
class Plan:
  """What `initialize` will do. kind: 'single' (nothing), 'explicit', 'slurm' or 'tpu'."""
  kind: str
  coordinator_address: str | None = None
  num_processes: int | None = None
  process_id: int | None = None
  local_device_ids: tuple[int, ...] | None = None

  @property
  def multi_process(self) -> bool:
    return self.kind != "single"


def settings_from(cfg_or_args: Any = None) -> Settings:
  """Reads settings from None, a run config with a `distributed` block, that block, a dict or argparse args."""
  if cfg_or_args is None:
    return Settings()
  if isinstance(cfg_or_args, Settings):
    return cfg_or_args
  if isinstance(cfg_or_args, argparse.Namespace):
    values = {k: v for k, v in vars(cfg_or_args).items() if v is not None}
    prefix = "args"
  else:
    block = cfg_or_args
    if _has(block, "distributed"):
      block = _get(block, "distributed")
    elif _has(block, "mesh") or _has(block, "model"):
      block = {}  # a run config without a `distributed` block: defaults and the environment
    if isinstance(block, ml_collections.ConfigDict):
      values = block.to_dict()
    elif isinstance(block, Mapping):
      values = dict(block)
    else:
      raise TypeError(f"distributed settings: expected a config, a dict or argparse args, got {type(block)}")
    prefix = "distributed"
  fields = {f.name: f for f in dataclasses.fields(Settings)}
  if isinstance(cfg_or_args, argparse.Namespace):
    values = {k: v for k, v in values.items() if k in fields}  # argparse carries the entry point's other flags
  unknown = sorted(set(values) - set(fields))
  if unknown:
    raise ValueError(f"{prefix}: unknown key(s) {unknown}; known: {sorted(fields)}")
  settings = Settings(**values)
  _check(settings, prefix)
  return settings


def _has(obj: Any, key: str) -> bool:
  return key in obj if isinstance(obj, (Mapping, ml_collections.ConfigDict)) else hasattr(obj, key)


def _get(obj: Any, key: str) -> Any:
  return obj[key] if isinstance(obj, (Mapping, ml_collections.ConfigDict)) else getattr(obj, key)


def _check(s: Settings, prefix: str) -> None:
  if s.mode not in MODES:
    raise ValueError(f"{prefix}.mode={s.mode!r} is not one of {MODES}")
  for name in ("initialization_timeout_s", "heartbeat_timeout_s", "shutdown_timeout_s"):
    if int(getattr(s, name)) <= 0:
      raise ValueError(f"{prefix}.{name} must be a positive number of seconds, got {getattr(s, name)!r}")
  if s.cpu_collectives not in ("gloo", "mpi", "none"):
    raise ValueError(f"{prefix}.cpu_collectives={s.cpu_collectives!r} is not one of ('gloo', 'mpi', 'none')")
  parse_device_ids(s.local_device_ids, f"{prefix}.local_device_ids")


def parse_device_ids(text: str, where: str) -> tuple[int, ...] | None:
  if not text:
    return None
  try:
    ids = tuple(int(x) for x in str(text).split(","))
  except ValueError:
    raise ValueError(f"{where}={text!r} must be comma-separated integers such as '0,1'") from None
  if any(i < 0 for i in ids):
    raise ValueError(f"{where}={text!r} must not hold negative device ids")
  return ids


def _env_int(environ: Mapping[str, str], name: str) -> int | None:
  raw = environ.get(name)
  if raw in (None, ""):
    return None
  try:
    return int(raw)
  except ValueError:
    raise ValueError(f"environment variable {name}={raw!r} must be an integer") from None


def on_cloud_tpu_vm() -> bool:
  for vendor in glob.glob("/sys/bus/pci/devices/*/vendor"):
    try:
      with open(vendor) as f:
        if f.read().strip() == _GOOGLE_PCI_VENDOR:
          return True
    except OSError:
      continue
  return False


def resolve(settings: Settings, environ: Mapping[str, str] | None = None, on_tpu_vm: bool | None = None) -> Plan:
  """Decides how this process joins the run (see the module docstring for the order)."""
  environ = os.environ if environ is None else environ
  mode = settings.mode
  if mode == "auto" and environ.get(MODE_ENV):
    mode = environ[MODE_ENV]
    if mode not in MODES:
      raise ValueError(f"environment variable {MODE_ENV}={mode!r} is not one of {MODES}")
  local_ids = parse_device_ids(settings.local_device_ids, "distributed.local_device_ids")
  if mode == "none":
    return Plan("single")

  coordinator = settings.coordinator_address or environ.get(COORDINATOR_ENV, "")
  count = settings.num_processes or _env_int(environ, NUM_PROCESSES_ENV)
  pid = settings.process_id if settings.process_id >= 0 else _env_int(environ, PROCESS_ID_ENV)
  in_slurm_step = slurm.in_job_step(environ)

  if mode == "explicit" or (mode == "auto" and coordinator and count):
    return _explicit(coordinator, count, pid, local_ids)
  if mode == "slurm" or (mode == "auto" and in_slurm_step and slurm.num_tasks(environ) > 1):
    if not in_slurm_step:
      raise ValueError("distributed.mode='slurm' but this process is not in a SLURM job step "
                       "(SLURM_JOB_ID, SLURM_STEP_NODELIST, SLURM_NTASKS, SLURM_PROCID unset): start it with srun")
    port = settings.coordinator_port or _env_int(environ, COORDINATOR_PORT_ENV) or slurm.default_port(environ)
    coordinator = coordinator or f"{slurm.first_host(environ)}:{port}"
    count = count or slurm.num_tasks(environ)
    pid = pid if pid is not None else slurm.proc_id(environ)
    return _explicit(coordinator, count, pid, local_ids, kind="slurm")
  if mode == "tpu" or (mode == "auto" and (on_cloud_tpu_vm() if on_tpu_vm is None else on_tpu_vm)):
    # JAX reads the worker list and this worker's id from the TPU metadata server.
    return Plan("tpu", coordinator or None, count, pid, None)
  if mode == "auto" and (coordinator or count or pid is not None):
    missing = [n for n, v in (("distributed.coordinator_address / " + COORDINATOR_ENV, coordinator),
                              ("distributed.num_processes / " + NUM_PROCESSES_ENV, count)) if not v]
    raise ValueError(f"a multi-process run was half-specified: missing {missing}")
  return Plan("single")


def _explicit(coordinator: str, count: int | None, pid: int | None, local_ids, kind: str = "explicit") -> Plan:
  if not coordinator or ":" not in coordinator:
    raise ValueError(f"distributed.coordinator_address (or {COORDINATOR_ENV}) must be 'host:port', "
                     f"got {coordinator!r}")
  if not count or count < 1:
    raise ValueError(f"distributed.num_processes (or {NUM_PROCESSES_ENV}) must be >= 1, got {count!r}")
  if count == 1:
    return Plan("single")
  if pid is None or not 0 <= pid < count:
    raise ValueError(f"distributed.process_id (or {PROCESS_ID_ENV}) must be in [0, {count}), got {pid!r}")
  return Plan(kind, coordinator, count, pid, local_ids)
