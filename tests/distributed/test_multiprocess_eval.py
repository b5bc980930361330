"""`python -m meta_rfft.evaluate` run by two processes (2 CPU devices each, jax.distributed on 127.0.0.1,
gloo) decodes and scores exactly like one process on 4 devices; only process 0 writes; a resume and an error
stay in step on both.

Process 1 gets a work directory of its own (as a host without a shared filesystem would): it must stay
untouched, so process 1 neither wrote the files nor read them (resuming needs process 0 to tell it which
batches are finished).
"""
import json
import os

import pytest

import mp_procs

pytestmark = pytest.mark.heavy  # started first: see tests/conftest.py

TASK = "nupa_length_integer"


@pytest.fixture
def ckpt(tiny_eval_checkpoint):
  return tiny_eval_checkpoint  # tests/conftest.py


def _eval(ckpt, workdir, *extra):
  # Batch 4 over data x fsdp: each process holds 2 of the 4 rows of every batch.
  return [mp_procs.PYTHON, "-m", "meta_rfft.evaluate", "--config=configs/eval.py", f"--workdir={workdir}",
          f"--config.checkpoint={ckpt}", f"--config.tasks={TASK}", "--config.lengths=1-2",
          "--config.samples_per_length=4", "--config.batch_size=4", "--config.max_new_extra=8",
          "--config.label=run", *extra]


def _two(ckpt, dirs, *extra):
  """Both processes of a run: `data` across the two processes (DCN), `fsdp` over each one's two devices."""
  port = mp_procs.free_port()
  return [_eval(ckpt, dirs[i], "--config.mesh.shape=1,2,1", "--config.mesh.dcn_shape=2,1,1",
                f"--config.distributed.coordinator_address=127.0.0.1:{port}",
                "--config.distributed.num_processes=2", f"--config.distributed.process_id={i}",
                "--config.distributed.heartbeat_timeout_s=30", *extra) for i in range(2)]


def _run(cmds, local_devices, log_dir, expect=0, timeout=180):
  os.makedirs(log_dir, exist_ok=True)
  with mp_procs.started(cmds, mp_procs.worker_env(local_devices), log_dir) as procs:
    codes = mp_procs.wait_all(procs, timeout=timeout)
  logs = [mp_procs.read_log(log_dir, i) for i in range(len(cmds))]
  assert codes == [expect] * len(cmds), "\n".join(log[-3000:] for log in logs)
  return logs


def _samples(workdir):
  with open(os.path.join(workdir, "eval", "samples.jsonl")) as f:
    return [json.loads(line) for line in f if line.strip()]


def _report(workdir):
  with open(os.path.join(workdir, "eval", "report.json")) as f:
    return json.load(f)


def test_two_process_evaluation_equals_one_process_resumes_and_fails_together(ckpt, tmp_path):
  ref, a0, a1 = (str(tmp_path / n) for n in ("ref", "a0", "a1"))

  # The reference: one process on 4 devices, the same 2 x 2 mesh in one slice.
  _run([_eval(ckpt, ref, "--config.mesh.shape=2,2,1")], 4, str(tmp_path / "logs_ref"))
  want = _samples(ref)
  assert len(want) == 1 + 8 and {r["batch"] for r in want[1:]} == {f"rf/{TASK}/{n}/0" for n in (1, 2)}
  assert len({r["output"] for r in want[1:]}) > 1  # a random model, but not a constant one

  logs = _run(_two(ckpt, (a0, a1)), 2, str(tmp_path / "logs_a"))
  assert "process 0/2 joined" in logs[0] and "4 global devices" in logs[0], logs[0][-2000:]
  assert "rf: 1 task(s)" in logs[0] and "rf: 1 task(s)" not in logs[1]
  assert _samples(a0) == want
  assert _report(a0) == _report(ref)
  assert sorted(os.listdir(os.path.join(a0, "eval"))) == sorted(os.listdir(os.path.join(ref, "eval")))
  assert not os.path.exists(a1), os.listdir(a1)

  # Other settings than the file's: process 0 refuses, process 1 learns it at the same point; both exit 2.
  logs = _run(_two(ckpt, (a0, a1), "--config.max_new_extra=9"), 2, str(tmp_path / "logs_err"), expect=2)
  assert "samples.jsonl was written with other settings" in logs[0], logs[0][-2000:]
  assert "process 0 failed while reading" in logs[1] and "other settings" in logs[1], logs[1][-2000:]

  # Interrupted after the first batch (plus a torn line): only process 0 has the file, both skip its samples.
  path = os.path.join(a0, "eval", "samples.jsonl")
  with open(path) as f:
    lines = f.read().split("\n")
  with open(path, "w") as f:
    f.write("\n".join(lines[:5]) + "\n" + lines[5][:30])
  logs = _run(_two(ckpt, (a0, a1)), 2, str(tmp_path / "logs_resume"))
  assert "resuming, 4 of 8 samples" in logs[0], logs[0][-2000:]
  assert _samples(a0) == want
  assert _report(a0) == _report(ref)
  assert not os.path.exists(a1)
