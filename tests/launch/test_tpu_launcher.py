"""launch/tpu_vm.py --dry-run: the exact gcloud commands, every worker addressed, quoting that round-trips."""
import os
import shlex
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAUNCHER = os.path.join(REPO, "launch", "tpu_vm.py")
SLICE = ["--name=rfft-7b", "--zone=us-east5-b", "--project=my-proj"]
CREATE = ["--accelerator-type=v5p-64", "--runtime-version=v2-alpha-tpuv5"]
# Overrides a shell would mangle if quoting were wrong: spaces, quotes, ;, $, backticks, globs.
TRICKY = ["--config=configs/rf_pretrain.py:pissa", "--config.train.steps=800",
          "--config.train.name=it's a \"run\"; echo $HOME `id` *", "--config.data.tasks=('lc_258', 'lc_1')"]


def launch(*args, ok=True):
  done = subprocess.run([sys.executable, LAUNCHER, *args], cwd=REPO, capture_output=True, text=True, timeout=60)
  if ok:
    assert done.returncode == 0, done.stderr
  return done


def commands(stdout):
  """The executable lines (comments are notes) as argv lists."""
  return [shlex.split(line) for line in stdout.splitlines() if line and not line.startswith("#")]


def remote_script(argv):
  """The shell script a `tpu-vm ssh --command=...` runs on every worker."""
  [cmd] = [a for a in argv if a.startswith("--command=")]
  bash, dash_c, script = shlex.split(cmd[len("--command="):])
  assert (bash, dash_c) == ("bash", "-c")
  return script


def program_argv(script):
  """What the worker's shell executes for the program: (env assignments, argv) of the final `exec`."""
  lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
  lexer.whitespace_split = True
  tokens = list(lexer)
  start = tokens.index(".venv/bin/python")
  env_start = start
  while "=" in tokens[env_start - 1]:
    env_start -= 1
  assert tokens[env_start - 2:env_start] == ["exec", "env"], tokens
  return tokens[env_start:start], tokens[start:]


def test_run_targets_every_worker_and_passes_overrides_exactly():
  out = launch("run", *SLICE, "--dry-run", "--run-id=r1", "--workdir=gs://bucket/runs/7b",
               "--env=XLA_FLAGS=--xla_a=1 --xla_b", "--", *TRICKY).stdout
  cmds = commands(out)
  ssh = [c for c in cmds if c[:5] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh"]]
  scp = [c for c in cmds if c[:5] == ["gcloud", "compute", "tpus", "tpu-vm", "scp"]]
  assert len(ssh) == 1 and len(scp) == 1 and len(cmds) == 2
  for c in ssh + scp:
    assert "--worker=all" in c and "--zone=us-east5-b" in c and "--project=my-proj" in c
    assert c[5] == "rfft-7b" or c[5].startswith("rfft-7b:") or c[6].startswith("rfft-7b:")
  env, argv = program_argv(remote_script(ssh[0]))
  # By default the bucket is mounted (gcsfuse) on every worker and the program gets the mounted path.
  assert argv == [".venv/bin/python", "-m", "meta_rfft.train", "--workdir=/mnt/gcs/bucket/runs/7b", *TRICKY]
  assert "gcsfuse --implicit-dirs bucket /mnt/gcs/bucket" in remote_script(ssh[0])
  assert env == ["META_RFFT_DISTRIBUTED=tpu", "PYTHONUNBUFFERED=1", "XLA_FLAGS=--xla_a=1 --xla_b"]
  script = remote_script(ssh[0])
  assert "tee -a meta_rfft_logs/r1/$(hostname).log" in script and "echo $$ > meta_rfft_logs/r1/$(hostname).pid" in script
  # Worker logs come back into the local log folder.
  assert scp[0][5:7] == ["rfft-7b:meta_rfft_logs/r1", os.path.join("logs", "tpu", "rfft-7b", "r1", "workers")]
  assert "--recurse" in scp[0]


def test_evaluate_module_and_recovery_plan_with_restarts():
  out = launch("run", *SLICE, *CREATE, "--queued", "--provisioning=spot", "--dry-run", "--max-restarts=2",
               "--module=meta_rfft.evaluate", "--workdir=gs://b/r", "--", "--config=configs/eval.py").stdout
  _, argv = program_argv(remote_script(commands(out)[0]))
  assert argv[:3] == [".venv/bin/python", "-m", "meta_rfft.evaluate"]
  notes = [shlex.split(line[3:].strip()) for line in out.splitlines() if line.startswith("#   ")]
  verbs = [n[3:5] for n in notes if n and n[0] == "gcloud"]
  assert verbs == [["queued-resources", "describe"], ["queued-resources", "delete"], ["queued-resources", "create"],
                   ["tpu-vm", "scp"], ["tpu-vm", "ssh"], ["tpu-vm", "ssh"], ["tpu-vm", "ssh"], ["tpu-vm", "ssh"]]
  create = next(n for n in notes if n[3:5] == ["queued-resources", "create"])
  assert {"--node-id=rfft-7b", "--accelerator-type=v5p-64", "--runtime-version=v2-alpha-tpuv5", "--spot"} <= set(
      create)
  assert all("--worker=all" in n for n in notes if n[3] == "tpu-vm")
  assert "up to 2 times" in out and "ACTIVE" in out


def test_setup_ships_the_checkout_and_installs_the_tpu_extra_on_every_worker():
  out = launch("setup", *SLICE, "--dry-run", "--pip-arg=--find-links=https://example.com/x y").stdout
  scp, ssh = commands(out)
  assert scp[3:5] == ["tpu-vm", "scp"] and scp[6] == "rfft-7b:meta_rfft_src.tar.gz" and "--worker=all" in scp
  assert ssh[3:5] == ["tpu-vm", "ssh"] and "--worker=all" in ssh
  steps = remote_script(ssh).split("; ")
  assert "tar -xzf meta_rfft_src.tar.gz -C meta_rfft" in steps
  pip = next(s for s in steps if s.startswith(".venv/bin/pip install --quiet") and "-e" in s)
  assert shlex.split(pip) == [".venv/bin/pip", "install", "--quiet", "--find-links=https://example.com/x y", "-e",
                              ".[tpu]"]
  files = int(out.split("# pack ")[1].split()[0])
  assert files > 10  # setup.py, the package, launch/ ... (git ls-files of this checkout)


@pytest.mark.parametrize("extra, expected", [
    ([], ["gcloud", "compute", "tpus", "tpu-vm", "create", "rfft-7b", "--zone=us-east5-b", "--project=my-proj",
          "--accelerator-type=v5p-64", "--version=v2-alpha-tpuv5"]),
    (["--provisioning=preemptible"], ["--preemptible"]),
    (["--queued", "--provisioning=spot", "--create-flag=--network=my net"],
     ["gcloud", "compute", "tpus", "queued-resources", "create", "rfft-7b", "--node-id=rfft-7b", "--zone=us-east5-b",
      "--project=my-proj", "--accelerator-type=v5p-64", "--runtime-version=v2-alpha-tpuv5", "--spot",
      "--network=my net"]),
])
def test_create_commands(extra, expected):
  cmds = commands(launch("create", *SLICE, *CREATE, "--dry-run", *extra).stdout)
  if expected[0] == "gcloud":
    assert cmds[0] == expected
  else:
    assert cmds[0][-len(expected):] == expected


def test_delete_commands():
  assert commands(launch("delete", *SLICE, "--dry-run").stdout) == [
      ["gcloud", "compute", "tpus", "tpu-vm", "delete", "rfft-7b", "--zone=us-east5-b", "--project=my-proj",
       "--quiet"]]
  assert commands(launch("delete", *SLICE, "--queued", "--dry-run").stdout)[0][3:] == [
      "queued-resources", "delete", "rfft-7b", "--zone=us-east5-b", "--project=my-proj", "--force", "--quiet"]


@pytest.mark.parametrize("args, message", [
    (["run", *SLICE, "--dry-run", "--workdir=/home/me/run", "--", "--config=a.py"], "not on gs://"),
    (["run", *SLICE, "--dry-run", "--workdir=gs://b/r", "--", "--workdir=gs://x"], "launcher's --workdir"),
    (["run", *SLICE, "--dry-run", "--max-restarts=1", "--workdir=gs://b/r"], "--accelerator-type"),
    (["run", *SLICE, "--dry-run", "--workdir=gs://b/r", "--env=1BAD=x"], "--env"),
    (["create", *SLICE, "--dry-run"], "--accelerator-type"),
    (["create", *SLICE, *CREATE, "--queued", "--provisioning=preemptible", "--dry-run"], "queued resources use spot"),
    (["setup", *SLICE, "--dry-run", "--", "--config=a.py"], "only for `run`"),
    (["run", *SLICE, "--dry-run", "--workdir=gs://b/r", "--run-id=../../etc"], "--run-id='../../etc': use letters"),
    (["stop", *SLICE, "--dry-run", "--run-id=.hidden"], "--run-id='.hidden'"),
    (["stop", *SLICE, "--dry-run", "--run-id=a b"], "--run-id='a b'"),
    (["status", "--name=../x", "--zone=us-east5-b", "--dry-run"], "--name='../x': use lowercase letters"),
    (["status", "--name=Rfft", "--zone=us-east5-b", "--dry-run"], "--name='Rfft'"),
])
def test_bad_arguments_fail_naming_the_flag(args, message):
  done = launch(*args, ok=False)
  assert done.returncode != 0 and message in done.stderr, done.stderr
  assert not commands(done.stdout)  # nothing was (or would have been) run


def test_stop_runs_the_stop_script_on_every_worker():
  [ssh] = commands(launch("stop", *SLICE, "--dry-run", "--run-id=r-7").stdout)
  assert ssh[3:6] == ["tpu-vm", "ssh", "rfft-7b"] and "--worker=all" in ssh
  assert "meta_rfft_logs/r-7/$(hostname).pid" in remote_script(ssh)


def test_no_gcsfuse_passes_the_gs_workdir_through_and_skips_the_install():
  out = launch("run", *SLICE, "--dry-run", "--no-gcsfuse", "--workdir=gs://bucket/r", "--", "--config=c.py").stdout
  script = remote_script(commands(out)[0])
  assert "gcsfuse" not in script
  assert program_argv(script)[1][3] == "--workdir=gs://bucket/r"
  setup_default = remote_script(commands(launch("setup", *SLICE, "--dry-run").stdout)[1])
  setup_plain = remote_script(commands(launch("setup", *SLICE, "--dry-run", "--no-gcsfuse").stdout)[1])
  assert "apt-get install -y -qq gcsfuse" in setup_default and "gcsfuse" not in setup_plain
