"""Starting, watching and always cleaning up the subprocesses of the multi-process tests (loopback only)."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from typing import Iterator, Sequence

# A 2-layer model on random tokens, as a config file for `python -m meta_rfft.train --config=FILE`.
TINY_TRAIN_CONFIG = '''
from meta_rfft.config.defaults import model_section, tiny_arch
from meta_rfft.train.config import base_config


def get_config():
  """python -m meta_rfft.train --config=THIS_FILE --workdir=DIR (a 2-layer model on random tokens)."""
  c = base_config()
  c.model = model_section(**tiny_arch(64, hidden_size=32, layers=2, heads=4, kv_heads=2, intermediate_size=64))
  c.train.data_source = "synthetic"
  c.data.seq_len = 32
  c.train.batch_size = 8
  c.train.steps = 2000  # the training test stops its first run with a preemption notice long before
  c.optim.learning_rate = 3e-3
  c.optim.schedule = "constant"  # the same rate at every step whatever train.steps is (runs differ in length)
  c.eval.every = 0
  c.checkpoint.every = 0  # the only checkpoint is the one saved on preemption
  c.checkpoint.async_save = False
  c.log_every = 1
  return c
'''

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = sys.executable


def free_port() -> int:
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def worker_env(local_devices: int) -> dict:
  env = dict(os.environ)
  env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={local_devices}"
  env["JAX_PLATFORMS"] = "cpu"
  env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
  env["PYTHONUNBUFFERED"] = "1"
  env["TF_CPP_MIN_LOG_LEVEL"] = "3"
  # The launchers' mode switch and any coordinator from the caller's shell must not leak into the workers.
  for k in ("META_RFFT_DISTRIBUTED", "JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
    env.pop(k, None)
  return env


@contextlib.contextmanager
def started(commands: Sequence[Sequence[str]], env: dict, log_dir: str) -> Iterator[list[subprocess.Popen]]:
  """Starts each command (stdout+stderr to log_dir/proc{i}.log); on exit kills whichever are still alive."""
  procs = []
  try:
    for i, cmd in enumerate(commands):
      log = open(os.path.join(log_dir, f"proc{i}.log"), "w")
      procs.append(subprocess.Popen(list(cmd), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
      log.close()
    yield procs
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
    for p in procs:
      try:
        p.wait(timeout=30)
      except subprocess.TimeoutExpired:
        pass


def wait_all(procs: Sequence[subprocess.Popen], timeout: float) -> list[int]:
  """Exit codes; raises TimeoutError (the context manager then kills them) if any outlives `timeout`."""
  deadline = time.monotonic() + timeout
  codes = []
  for p in procs:
    remaining = max(0.0, deadline - time.monotonic())
    try:
      codes.append(p.wait(timeout=remaining))
    except subprocess.TimeoutExpired:
      raise TimeoutError(f"process {p.args} still running after {timeout} s") from None
  return codes


def read_log(log_dir: str, i: int) -> str:
  with open(os.path.join(log_dir, f"proc{i}.log")) as f:
    return f.read()
