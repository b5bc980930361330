"""Two real processes (2 CPU devices each) joined by jax.distributed on 127.0.0.1, with gloo collectives.

- a sharded loss/gradient on the 4-device global mesh (data across processes, fsdp inside) equals a one-process
  4-device run;
- killing either process makes the survivor exit non-zero within the heartbeat bound, naming the cause;
- a SIGTERM (preemption notice) to one process stops both at the same step, as the trainer needs to save.
"""
import json
import os
import time

import numpy as np
import pytest

import mp_procs

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mp_worker.py")
HEARTBEAT_S = 10  # short for the test; long enough that a starved but live process is not declared dead
# Heartbeat timeout + the service's detection period + process teardown on two shared cores.
EXIT_BOUND_S = HEARTBEAT_S + 25


def _cmd(n, pid, port, out, *extra):
  return [mp_procs.PYTHON, WORKER, f"--num_processes={n}", f"--process_id={pid}", f"--port={port}",
          f"--out={out}", *extra]


def test_two_processes_agree_with_one_process_on_four_devices(tmp_path):
  port = mp_procs.free_port()
  outs = [str(tmp_path / f"r{i}.json") for i in range(3)]
  multi = [_cmd(2, i, port, outs[i]) for i in range(2)]
  with mp_procs.started(multi, mp_procs.worker_env(2), str(tmp_path)) as procs:
    codes = mp_procs.wait_all(procs, timeout=120)
  assert codes == [0, 0], [mp_procs.read_log(str(tmp_path), i)[-3000:] for i in range(2)]
  single_dir = tmp_path / "single"
  single_dir.mkdir()
  with mp_procs.started([_cmd(1, 0, 0, outs[2])], mp_procs.worker_env(4), str(single_dir)) as procs:
    assert mp_procs.wait_all(procs, timeout=120) == [0], mp_procs.read_log(str(single_dir), 0)[-3000:]

  r0, r1, ref = (json.load(open(o)) for o in outs)
  assert (r0["process_index"], r1["process_index"]) == (0, 1)
  assert r0["process_count"] == r1["process_count"] == 2 and ref["process_count"] == 1
  assert r0["mesh"] == ref["mesh"] == {"data": 2, "fsdp": 2, "tensor": 1}
  # The data axis really crosses the process boundary: each data row lives in one process.
  assert r0["mesh_processes"] == [[0, 0], [1, 1]]
  assert r0["loss"] == r1["loss"]  # both hosts see the same replicated scalar
  np.testing.assert_allclose(r0["loss"], ref["loss"], rtol=1e-6)
  for k in ("w1", "w2"):
    np.testing.assert_array_equal(r0["grads"][k], r1["grads"][k])
    np.testing.assert_allclose(r0["grads"][k], ref["grads"][k], rtol=1e-5, atol=1e-6)
  assert np.abs(np.asarray(ref["grads"]["w1"])).sum() > 0


@pytest.mark.parametrize("victim", [1, 0], ids=["kill_worker", "kill_coordinator_host"])
def test_killing_one_process_makes_the_other_exit_within_the_bound(tmp_path, victim):
  port = mp_procs.free_port()
  outs = [str(tmp_path / f"r{i}.json") for i in range(2)]
  cmds = [_cmd(2, i, port, outs[i], "--loop", f"--heartbeat_timeout_s={HEARTBEAT_S}") for i in range(2)]
  with mp_procs.started(cmds, mp_procs.worker_env(2), str(tmp_path)) as procs:
    deadline = time.monotonic() + 120
    while not all(os.path.exists(o) for o in outs):  # both have joined and stepped together at least once
      assert time.monotonic() < deadline, [mp_procs.read_log(str(tmp_path), i)[-2000:] for i in range(2)]
      assert all(p.poll() is None for p in procs), [mp_procs.read_log(str(tmp_path), i)[-2000:] for i in range(2)]
      time.sleep(0.5)
    survivor = 1 - victim
    procs[victim].kill()
    killed_at = time.monotonic()
    try:
      code = procs[survivor].wait(timeout=EXIT_BOUND_S)
    except Exception:  # noqa: BLE001  (reported below with the log)
      code = None
    waited = time.monotonic() - killed_at
  log = mp_procs.read_log(str(tmp_path), survivor)
  assert code is not None, f"survivor still running {EXIT_BOUND_S} s after its peer died:\n{log[-3000:]}"
  assert code != 0, log[-3000:]
  assert code != 3, "survivor ran out its loop instead of noticing the dead peer"
  assert "JAX distributed service detected fatal errors" in log, log[-3000:]
  print(f"survivor exited with {code} {waited:.1f} s after process {victim} was killed")


def test_sigterm_to_one_process_stops_every_process_at_the_same_step(tmp_path):
  port = mp_procs.free_port()
  outs = [str(tmp_path / f"r{i}.json") for i in range(2)]
  cmds = [_cmd(2, i, port, outs[i], "--watch_preemption") for i in range(2)]
  with mp_procs.started(cmds, mp_procs.worker_env(2), str(tmp_path)) as procs:
    deadline = time.monotonic() + 120
    while not all(os.path.exists(o + ".stepping") for o in outs):
      assert time.monotonic() < deadline and all(p.poll() is None for p in procs), [
          mp_procs.read_log(str(tmp_path), i)[-2000:] for i in range(2)]
      time.sleep(0.2)
    procs[1].terminate()  # the preemption notice reaches one host only
    codes = mp_procs.wait_all(procs, timeout=60)
  logs = [mp_procs.read_log(str(tmp_path), i) for i in range(2)]
  assert codes == [143, 143], logs
  stops = [int(log.split("preempted at step ")[1].split()[0]) for log in logs]
  assert stops[0] == stops[1] >= 2, stops
