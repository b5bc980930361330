"""The shell scripts the TPU launcher runs on each worker, executed here by bash in a throwaway home folder,
and the launcher's decision after a run (retry on preemption, stop on a real error)."""
import importlib.util
import os
import subprocess
import sys
import textwrap
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# launch/ holds scripts, not a package: load the command builders by path (registered, as dataclasses need).
_spec = importlib.util.spec_from_file_location("launch_tpu_commands",
                                               os.path.join(REPO, "launch", "tpu_commands.py"))
tc = sys.modules.setdefault("launch_tpu_commands", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(tc)


@pytest.fixture
def worker_home(tmp_path):
  """A worker's home as `setup` leaves it: the project in meta_rfft/ with its venv python."""
  home = tmp_path / "home"
  (home / "meta_rfft").mkdir(parents=True)
  # This checkout's venv stands for the one setup builds (a folder link keeps it a working venv).
  os.symlink(os.path.dirname(os.path.dirname(sys.executable)), home / "meta_rfft" / ".venv")
  # A long-running program whose module name contains meta_rfft, like the real entry points.
  (tmp_path / "meta_rfft_sleeper.py").write_text(textwrap.dedent("""\
      import signal, sys, time
      def on_term(*_):
        print("got SIGTERM, saving", flush=True)
        sys.exit(143)
      signal.signal(signal.SIGTERM, on_term)
      print("started", sys.argv[1:], flush=True)
      time.sleep(120)
      """))
  env = dict(os.environ, HOME=str(home), PYTHONPATH=f"{REPO}{os.pathsep}{tmp_path}")
  return home, env


def _bash(script, home, env, **kw):
  return subprocess.run(["bash", "-c", script], cwd=home, env=env, capture_output=True, text=True, timeout=120,
                        **kw)


def test_run_script_propagates_the_exit_code_and_keeps_a_per_host_log(worker_home):
  home, env = worker_home
  # The real trainer, without --config: it must fail with its usage error (exit 2), and so must the script.
  script = tc.run_script("meta_rfft.train", "gs://b/run", ["--config.train.name=a b"], "r1")
  done = _bash(script, home, env)
  assert done.returncode == 2, done.stderr
  logs = list((home / "meta_rfft_logs" / "r1").glob("*.log"))
  assert len(logs) == 1 and "--config=FILE" in logs[0].read_text()
  assert list((home / "meta_rfft_logs" / "r1").glob("*.pid"))


def test_stop_script_terminates_the_running_program_so_it_can_save(worker_home):
  home, env = worker_home
  script = tc.run_script("meta_rfft_sleeper", "gs://b/run", [], "r2")
  proc = subprocess.Popen(["bash", "-c", script], cwd=home, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
  try:
    log = home / "meta_rfft_logs" / "r2"
    deadline = time.monotonic() + 60
    while not (list(log.glob("*.log")) and "started" in list(log.glob("*.log"))[0].read_text()):
      assert time.monotonic() < deadline and proc.poll() is None
      time.sleep(0.2)
    stopped = _bash(tc.stop_script("r2"), home, env)
    assert stopped.returncode == 0, stopped.stderr
    assert proc.wait(timeout=60) == 143
    assert "got SIGTERM, saving" in list(log.glob("*.log"))[0].read_text()
  finally:
    if proc.poll() is None:
      proc.kill()
      proc.wait(timeout=30)
  # Stopping again (nothing running; the pid may be reused by anything) is harmless.
  assert _bash(tc.stop_script("r2"), home, env).returncode == 0


@pytest.mark.parametrize("code, state, kind, attempt, restarts, action", [
    (0, "", "tpu-vm", 0, 0, "done"),
    (1, "READY", "tpu-vm", 0, 5, "fail"),  # a bug: rerunning would fail again
    (1, "PREEMPTED", "tpu-vm", 0, 5, "recreate"),
    (1, "NOT_FOUND", "tpu-vm", 4, 5, "recreate"),
    (1, "PREEMPTED", "tpu-vm", 5, 5, "give_up"),
    (143, "READY", "tpu-vm", 0, 5, "rerun"),  # SIGTERM, slice still up after settling: run again in place
    (143, "READY", "tpu-vm", 0, 0, "give_up"),
    (255, "SUSPENDED", "queued", 1, 3, "recreate"),
    (1, "ACTIVE", "queued", 0, 3, "fail"),
])
def test_decision_after_a_run(code, state, kind, attempt, restarts, action):
  assert tc.decide(code, state, kind, attempt, restarts) == action


def test_gcsfuse_variants_are_valid_bash_and_map_paths(tmp_path):
  for script in (tc.setup_script("tpu", (), gcsfuse=True),
                 tc.run_script("meta_rfft.train", "gs://my-bucket/runs/a b", [], "r3", gcsfuse=True)):
    path = tmp_path / "s.sh"
    path.write_text(script)
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True, timeout=30).returncode == 0, script
  assert tc.mounted_path("gs://my-bucket/runs/a b/") == "/mnt/gcs/my-bucket/runs/a b"
  assert tc.mounted_path("gs://my-bucket") == "/mnt/gcs/my-bucket"
  with pytest.raises(ValueError, match="not a gs://BUCKET"):
    tc.split_gcs("gs:///x")
