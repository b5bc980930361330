"""The trainer run by two processes (2 CPU devices each, jax.distributed on 127.0.0.1, gloo) trains exactly like
one process on 4 devices, and the checkpoint the two processes write restores in one process and continues the
same way.

Runs: A = 2 processes, until SIGTERM reaches process 1 only (a TPU preemption notice): both must save the same
step S and exit 143; B = 1 process, steps 1..S+2 straight; C = 1 process resuming A's work directory up to
S+2. A's losses must equal B's 1..S, and C's S+1, S+2 must equal B's.
"""
import json
import os
import time

import numpy as np
import pytest

import mp_procs

pytestmark = pytest.mark.heavy  # started first: see tests/conftest.py

CONFIG = mp_procs.TINY_TRAIN_CONFIG


def _train(config, workdir, *extra):
  return [mp_procs.PYTHON, "-m", "meta_rfft.train", f"--config={config}", f"--workdir={workdir}", *extra]


def _losses(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return {r["step"]: r["loss"] for r in map(json.loads, f) if "loss" in r}


def _run(cmds, local_devices, log_dir, timeout=240):
  os.makedirs(log_dir, exist_ok=True)
  with mp_procs.started(cmds, mp_procs.worker_env(local_devices), log_dir) as procs:
    codes = mp_procs.wait_all(procs, timeout=timeout)
  assert codes == [0] * len(cmds), "\n".join(mp_procs.read_log(log_dir, i)[-3000:] for i in range(len(cmds)))


def _run_two_until_preempted(cmds, log_dir, metrics, min_step=3, timeout=240):
  """Starts both processes, sends SIGTERM to process 1 only once step `min_step` is logged; both must stop."""
  os.makedirs(log_dir, exist_ok=True)
  logs = lambda: "\n".join(mp_procs.read_log(log_dir, i)[-3000:] for i in range(2))  # noqa: E731
  with mp_procs.started(cmds, mp_procs.worker_env(2), log_dir) as procs:
    deadline = time.monotonic() + timeout
    while not (os.path.exists(metrics) and sum(1 for _ in open(metrics)) >= min_step):
      assert time.monotonic() < deadline and all(p.poll() is None for p in procs), logs()
      time.sleep(0.05)
    procs[1].terminate()
    codes = mp_procs.wait_all(procs, timeout=120)
  assert codes == [143, 143], logs()  # 143: preempted, saved, to be resumed


def test_two_process_training_equals_one_process_and_its_checkpoint_resumes_in_one_process(tmp_path):
  config = tmp_path / "tiny_config.py"
  config.write_text(CONFIG)
  a_dir, b_dir = str(tmp_path / "a"), str(tmp_path / "b")

  # A: two processes; a preemption notice reaches process 1 only; both save the same step and stop.
  port = mp_procs.free_port()
  two = [_train(config, a_dir, f"--config.distributed.coordinator_address=127.0.0.1:{port}",
                "--config.distributed.num_processes=2", f"--config.distributed.process_id={i}",
                "--config.distributed.heartbeat_timeout_s=30") for i in range(2)]
  _run_two_until_preempted(two, str(tmp_path / "logs_a"), os.path.join(a_dir, "metrics.jsonl"))
  log0 = mp_procs.read_log(str(tmp_path / "logs_a"), 0)
  assert "process 0/2 joined" in log0 and "4 global devices" in log0, log0[-2000:]
  a = _losses(a_dir)
  stop = max(a)
  assert sorted(a) == list(range(1, stop + 1)) and f"saving step {stop}" in log0, log0[-2000:]

  # B: one process on 4 devices, straight through; C: one process resuming A's checkpoint.
  end = stop + 2
  _run([_train(config, b_dir, f"--config.train.steps={end}")], 4, str(tmp_path / "logs_b"))
  _run([_train(config, a_dir, f"--config.train.steps={end}")], 4, str(tmp_path / "logs_c"))
  b, c = _losses(b_dir), _losses(a_dir)
  assert sorted(b) == sorted(c) == list(range(1, end + 1))
  np.testing.assert_allclose([a[s] for s in range(1, stop + 1)], [b[s] for s in range(1, stop + 1)], rtol=1e-6)
  np.testing.assert_allclose([c[stop + 1], c[end]], [b[stop + 1], b[end]], rtol=1e-6)
  assert len({round(v, 6) for v in b.values()}) > 1  # the parameters do move (random tokens: no learning curve)
  resume_log = mp_procs.read_log(str(tmp_path / "logs_c"), 0)
  assert f"steps {stop}->{end}" in resume_log, resume_log[-2000:]
