"""Joining a multi-process run: `initialize` must be the first JAX call of every entry point.

Failure detection is JAX's coordination service: every process heart-beats to process 0's service; when one
stops (killed, preempted, machine lost) for `heartbeat_timeout_s`, the service tells every other process, which
then terminates with "Terminating process because the JAX distributed service detected fatal errors ... another
task died" (exit by SIGABRT, status 134). If process 0 itself dies, the others lose the service and terminate the
same way. This also interrupts a process blocked inside a collective. Checked on CPU with gloo in
tests/distributed/test_multiprocess.py: a killed peer brings the survivor down within the bound.
"""
from __future__ import annotations

import dataclasses
import logging
import signal
import sys
from typing import Any

import jax
from jax.experimental import multihost_utils

from meta_rfft.distributed import settings as settings_lib

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ProcessInfo:
  kind: str  # 'single', 'explicit', 'slurm' or 'tpu'
  process_index: int
  process_count: int
  coordinator_address: str | None = None
  heartbeat_timeout_s: int | None = None

  @property
  def is_leader(self) -> bool:
    return self.process_index == 0


_info: ProcessInfo | None = None


def initialize(cfg_or_args: Any = None) -> ProcessInfo:
  """Initialises jax.distributed when this is one process of several; does nothing for a single process.

  Args:
    cfg_or_args: the run config (its `distributed` block is read), that block, a dict of its keys, argparse
      args with the same names, or None (defaults + environment). See `settings.default_config()`.

  Returns:
    Where this process stands. Calling it again returns the same answer without re-initialising, so both
    train and evaluate entry points (and library code) may call it.
  """
  global _info
  if _info is not None:
    return _info
  s = settings_lib.settings_from(cfg_or_args)
  plan = settings_lib.resolve(s)
  if not plan.multi_process:
    _info = ProcessInfo("single", 0, 1)
    return _info
  if jax.distributed.is_initialized():  # a caller (e.g. a notebook) already did it; do not fail on a 2nd call
    _info = ProcessInfo(plan.kind, jax.process_index(), jax.process_count(), plan.coordinator_address)
    return _info
  if s.cpu_collectives != "none":
    # Only the CPU client reads this; on TPU/GPU it is inert, and without it a CPU run cannot all-reduce.
    jax.config.update("jax_cpu_collectives_implementation", s.cpu_collectives)
  timeouts = dict(initialization_timeout=int(s.initialization_timeout_s),
                  heartbeat_timeout_seconds=int(s.heartbeat_timeout_s),
                  shutdown_timeout_seconds=int(s.shutdown_timeout_s))
  if plan.kind == "tpu":
    jax.distributed.initialize(coordinator_address=plan.coordinator_address,
                               num_processes=plan.num_processes, process_id=plan.process_id, **timeouts)
  else:
    # 'deactivate': we resolved everything ourselves; JAX's SLURM detection would pin one GPU per process.
    jax.distributed.initialize(coordinator_address=plan.coordinator_address,
                               num_processes=plan.num_processes, process_id=plan.process_id,
                               local_device_ids=list(plan.local_device_ids) if plan.local_device_ids else None,
                               cluster_detection_method="deactivate", **timeouts)
  _info = ProcessInfo(plan.kind, jax.process_index(), jax.process_count(), plan.coordinator_address,
                      int(s.heartbeat_timeout_s))
  message = (f"[meta_rfft.distributed] process {_info.process_index}/{_info.process_count} joined ({plan.kind}, "
             f"coordinator {plan.coordinator_address or 'from TPU metadata'}); {jax.local_device_count()} local / "
             f"{jax.device_count()} global devices. If any process dies, the others terminate within about "
             f"{s.heartbeat_timeout_s} s (distributed.heartbeat_timeout_s) with 'JAX distributed service "
             f"detected fatal errors'.")
  logger.info(message)
  print(message, file=sys.stderr, flush=True)
  return _info


def process_info() -> ProcessInfo:
  """The result of `initialize`, or a single-process answer if it was never called."""
  return _info if _info is not None else ProcessInfo("single", jax.process_index(), jax.process_count())


def preemption_sync_point(step: int) -> bool:
  """True at the step where every host should save because one of them got a preemption notice (SIGTERM).

  Call it every step on every host. Always False for single-process runs (see `PreemptionWatcher`). JAX's
  preemption service learns of SIGTERM through its own signal handler, installed by `initialize`: a Python
  `signal.signal(SIGTERM, ...)` after that silently replaces it and this never turns True.
  """
  if _info is None or not jax.distributed.is_initialized():
    return False
  return bool(multihost_utils.reached_preemption_sync_point(step))


class PreemptionWatcher:
  """Says, step by step, whether to save and stop because of a preemption notice (SIGTERM).

  One process: a Python SIGTERM handler sets a flag. Several: no Python handler (it would replace the one
  through which JAX's preemption service hears SIGTERM); the first host to get SIGTERM tells the others, and
  `reached(step)` turns True on every host at the same step, so they all save the same checkpoint.

    watcher = distributed.PreemptionWatcher()
    try:
      for step in ...:
        ...
        if watcher.reached(step): save(step); break
    finally:
      watcher.close()
  """

  def __init__(self):
    self.multi_process = jax.process_count() > 1 and jax.distributed.is_initialized()
    self._flag = False
    self._previous = None
    if not self.multi_process:
      self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)

  def _on_sigterm(self, signum, frame) -> None:  # pylint: disable=unused-argument
    self._flag = True

  def reached(self, step: int) -> bool:
    return preemption_sync_point(step) if self.multi_process else self._flag

  def close(self) -> None:
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)
      self._previous = None


def host_shard() -> tuple[int, int]:
  """(index, count) of this host's shard of the input data: every host reads a disjoint 1/count of it."""
  return jax.process_index(), jax.process_count()
