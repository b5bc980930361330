"""The gcloud command lines of the TPU launcher, built as argv lists (never shell strings) so quoting is exact.

Only `--command=` of `tpu-vm ssh` is a shell script, run by each worker's shell; every piece of it that comes
from the user (workdir, config overrides, env values) goes through shlex.quote.
"""
from __future__ import annotations

import dataclasses
import re
import shlex
from typing import Sequence

# Where the project lives on every worker, relative to the login user's home (ssh starts there; a relative path
# avoids quoting '~').
REMOTE_DIR = "meta_rfft"
REMOTE_TARBALL = "meta_rfft_src.tar.gz"
REMOTE_LOGS = "meta_rfft_logs"

# States in which the slice can run our command; anything else after a failed run means it was preempted,
# is under maintenance or is gone, and the launcher recreates it.
HEALTHY_STATES = {"tpu-vm": {"READY"}, "queued": {"ACTIVE"}}
# States worth waiting in after (re)creation, rather than giving up.
PENDING_STATES = {"tpu-vm": {"CREATING", "STARTING", "RESTARTING", "REPAIRING"},
                  "queued": {"ACCEPTED", "PROVISIONING", "WAITING_FOR_RESOURCES", "CREATING"}}
# 143: the trainer got SIGTERM (a preemption notice), saved and exited; 255: ssh lost the workers.
INTERRUPTED_CODES = (143, 255)


def combined_code(codes: Sequence[int]) -> int:
  """One exit code for a run made of one ssh per slice (multislice).

  When one slice is lost (ssh 255) or told to stop (143), the others die of the JAX heartbeat with an ordinary
  error: the run as a whole was interrupted, not broken, so an interruption code wins over other failures.
  """
  failed = [c for c in codes if c != 0]
  interrupted = [c for c in failed if c in INTERRUPTED_CODES]
  return (interrupted or failed or [0])[0]


def decide(code: int, state: str, kind: str, attempt: int, max_restarts: int) -> str:
  """What `run` does after an attempt: done | fail (a real error) | give_up | rerun (in place) | recreate.

  `state` is the slice's state after the attempt (for an interrupted run, after waiting for it to settle).
  """
  if code == 0:
    return "done"
  healthy = state in HEALTHY_STATES[kind]
  if healthy and code not in INTERRUPTED_CODES:
    return "fail"  # the program failed on a working slice: running it again would fail again
  if attempt >= max_restarts:
    return "give_up"
  return "rerun" if healthy else "recreate"


@dataclasses.dataclass(frozen=True)
class Slice:
  """Which TPU slice, and how to (re)create it."""
  name: str
  zone: str
  project: str = ""
  queued: bool = False  # create it through a queued resource (needed for large or spot slices)
  accelerator_type: str = ""  # e.g. v5litepod-256, v5p-64, v4-32
  runtime_version: str = ""  # e.g. v2-alpha-tpuv5-lite, v2-alpha-tpuv5, tpu-ubuntu2204-base
  provisioning: str = "standard"  # standard | spot | preemptible
  extra_create_flags: tuple[str, ...] = ()
  # Several slices over DCN: one queued resource with this many nodes (implies `queued`).
  num_slices: int = 1

  @property
  def kind(self) -> str:
    return "queued" if self.queued or self.num_slices > 1 else "tpu-vm"

  def nodes(self) -> list[str]:
    """The TPU VM names: a queued resource created with `--node-prefix=P --node-count=N` names its nodes
    P-0 .. P-(N-1) (the names Google's multislice guides then address with
    `gcloud compute tpus tpu-vm ssh P-0`); one slice is the VM named like the slice."""
    if self.num_slices == 1:
      return [self.name]
    return [f"{self.name}-{i}" for i in range(self.num_slices)]

  def where(self) -> list[str]:
    return [f"--zone={self.zone}"] + ([f"--project={self.project}"] if self.project else [])


# GCP's resource-name format (the slice's name also names log folders here and on the workers).
_SLICE_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
# A run id names log folders here and on every worker: no '/', no leading '.', nothing a shell would read.
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def check_run_id(run_id: str) -> None:
  if not _RUN_ID.fullmatch(run_id):
    raise ValueError(f"--run-id={run_id!r}: use letters, digits and _ . - (not starting with one of the last "
                     "three; it names log folders on every worker)")


def check_slice(s: Slice, for_create: bool) -> None:
  if not s.name or not s.zone:
    raise ValueError("--name and --zone are required")
  if not _SLICE_NAME.fullmatch(s.name):
    raise ValueError(f"--name={s.name!r}: use lowercase letters, digits and '-', starting with a letter and not "
                     "ending with '-', at most 63 characters (GCP's resource names; it also names log folders)")
  if s.num_slices < 1:
    raise ValueError(f"--num-slices={s.num_slices} must be at least 1")
  if for_create:
    if not s.accelerator_type or not s.runtime_version:
      raise ValueError("creating a slice needs --accelerator-type (e.g. v5litepod-16) and --runtime-version "
                       "(e.g. v2-alpha-tpuv5-lite)")
    if s.provisioning not in ("standard", "spot", "preemptible"):
      raise ValueError(f"--provisioning={s.provisioning!r} is not one of standard, spot, preemptible")
    if s.kind == "queued" and s.provisioning == "preemptible":
      raise ValueError("--provisioning=preemptible exists only for plain TPU VMs; queued resources use spot")


def create(s: Slice) -> list[str]:
  check_slice(s, for_create=True)
  if s.num_slices > 1:
    # `--node-count` with `--node-prefix` replaces `--node-id` (`gcloud compute tpus queued-resources create
    # --help`: "(--node-id=NODE_ID | [--node-count=NODE_COUNT : --node-prefix=NODE_PREFIX])"): one queued
    # resource holds all the slices, so the TPU runtime gives their workers the multislice settings.
    cmd = ["gcloud", "compute", "tpus", "queued-resources", "create", s.name, f"--node-count={s.num_slices}",
           f"--node-prefix={s.name}", *s.where(), f"--accelerator-type={s.accelerator_type}",
           f"--runtime-version={s.runtime_version}"]
  elif s.queued:
    cmd = ["gcloud", "compute", "tpus", "queued-resources", "create", s.name, f"--node-id={s.name}",
           *s.where(), f"--accelerator-type={s.accelerator_type}", f"--runtime-version={s.runtime_version}"]
  else:
    cmd = ["gcloud", "compute", "tpus", "tpu-vm", "create", s.name, *s.where(),
           f"--accelerator-type={s.accelerator_type}", f"--version={s.runtime_version}"]
  if s.provisioning != "standard":
    cmd.append(f"--{s.provisioning}")
  return cmd + list(s.extra_create_flags)


def describe_state(s: Slice) -> list[str]:
  if s.kind == "queued":
    return ["gcloud", "compute", "tpus", "queued-resources", "describe", s.name, *s.where(),
            "--format=value(state.state)"]
  return ["gcloud", "compute", "tpus", "tpu-vm", "describe", s.name, *s.where(), "--format=value(state)"]


def describe_node_states(s: Slice) -> list[list[str]]:
  """Multislice: each slice's own state (READY when usable); the queued resource may still say ACTIVE while
  one of its slices is being repaired or preempted. Empty for one slice (its state is `describe_state`)."""
  if s.num_slices == 1:
    return []
  return [["gcloud", "compute", "tpus", "tpu-vm", "describe", node, *s.where(), "--format=value(state)"]
          for node in s.nodes()]


def delete(s: Slice) -> list[str]:
  if s.kind == "queued":  # --force also deletes the TPU VMs (every slice) the queued resource holds
    return ["gcloud", "compute", "tpus", "queued-resources", "delete", s.name, *s.where(), "--force", "--quiet"]
  return ["gcloud", "compute", "tpus", "tpu-vm", "delete", s.name, *s.where(), "--quiet"]


def ssh_all(s: Slice, script: str, node: str = "") -> list[str]:
  """Runs `script` on every worker of the slice (or of its slice `node`) at once (bash, so pipefail and
  $(hostname) work)."""
  return ["gcloud", "compute", "tpus", "tpu-vm", "ssh", node or s.name, *s.where(), "--worker=all",
          f"--command=bash -c {shlex.quote(script)}"]


def scp_to_all(s: Slice, local: str, remote: str, node: str = "") -> list[str]:
  return ["gcloud", "compute", "tpus", "tpu-vm", "scp", local, f"{node or s.name}:{remote}", *s.where(),
          "--worker=all"]


def scp_from_all(s: Slice, remote: str, local: str, node: str = "") -> list[str]:
  return ["gcloud", "compute", "tpus", "tpu-vm", "scp", f"{node or s.name}:{remote}", local, *s.where(),
          "--worker=all", "--recurse"]


# Multislice: one `tpu-vm ... --worker=all` per slice, run side by side by the launcher. Not
# `gcloud compute tpus queued-resources ssh QR --worker=all --node=all`: it connects to at most --batch-size
# (default 64) workers at a time, and a training job whose hosts wait for each other would hang past 64 hosts.
def ssh_every_node(s: Slice, script: str) -> list[list[str]]:
  return [ssh_all(s, script, node) for node in s.nodes()]


def scp_to_every_node(s: Slice, local: str, remote: str) -> list[list[str]]:
  return [scp_to_all(s, local, remote, node) for node in s.nodes()]


def scp_from_every_node(s: Slice, remote: str, local: str) -> list[list[str]]:
  # Each worker's files are named after its own hostname, so the slices' copies do not collide in `local`.
  return [scp_from_all(s, remote, local, node) for node in s.nodes()]


# Buckets are mounted here (same path on every worker), so programs that write ordinary files (config.json,
# metrics.jsonl, TensorBoard, Orbax) can use a bucket as their work directory: gs://B/x -> /mnt/gcs/B/x.
GCS_MOUNT_ROOT = "/mnt/gcs"
_GCSFUSE_INSTALL = (
    "command -v gcsfuse >/dev/null || { "
    "curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg | sudo tee /usr/share/keyrings/cloud.google.asc "
    ">/dev/null && echo \"deb [signed-by=/usr/share/keyrings/cloud.google.asc] https://packages.cloud.google.com/apt "
    "gcsfuse-$(lsb_release -cs) main\" | sudo tee /etc/apt/sources.list.d/gcsfuse.list >/dev/null && "
    "sudo apt-get update -qq && sudo apt-get install -y -qq gcsfuse; }")


def split_gcs(path: str) -> tuple[str, str]:
  """gs://bucket/a/b -> ('bucket', 'a/b'); a clear error for anything else."""
  if not path.startswith("gs://") or not path[len("gs://"):].split("/")[0]:
    raise ValueError(f"{path!r} is not a gs://BUCKET/... path")
  bucket, _, rest = path[len("gs://"):].partition("/")
  return bucket, rest.strip("/")


def mounted_path(path: str) -> str:
  bucket, rest = split_gcs(path)
  return "/".join(p for p in (GCS_MOUNT_ROOT, bucket, rest) if p)


def mount_script(bucket: str) -> str:
  """Mounts the bucket unless it already is (again after a reboot: maintenance events restart VMs)."""
  mnt = shlex.quote(f"{GCS_MOUNT_ROOT}/{bucket}")
  return (f"mountpoint -q {mnt} || {{ sudo mkdir -p {mnt} && sudo chown \"$(id -u):$(id -g)\" {mnt} && "
          f"gcsfuse --implicit-dirs {shlex.quote(bucket)} {mnt}; }}")


def setup_script(extras: str = "tpu", pip_args: Sequence[str] = (), gcsfuse: bool = False) -> str:
  """Unpacks the shipped source over the previous copy (keeping its venv) and installs it with `.[extras]`."""
  q = shlex.quote
  return "; ".join([
      "set -euo pipefail",
      *([_GCSFUSE_INSTALL] if gcsfuse else []),
      f"mkdir -p {REMOTE_DIR}",
      # Remove the old source but keep .venv, so files deleted locally disappear and reinstalls stay fast.
      f"find {REMOTE_DIR} -mindepth 1 -maxdepth 1 ! -name .venv -exec rm -rf {{}} +",
      f"tar -xzf {REMOTE_TARBALL} -C {REMOTE_DIR}",
      f"cd {REMOTE_DIR}",
      # Base TPU images may lack python3-venv; install it only when creating the venv fails.
      "test -x .venv/bin/python || python3 -m venv .venv || (sudo apt-get update -qq && "
      "sudo apt-get install -y -qq python3-venv && python3 -m venv .venv)",
      ".venv/bin/pip install --quiet --upgrade pip",
      " ".join([".venv/bin/pip", "install", "--quiet", *map(q, pip_args), "-e", q(f".[{extras}]")]),
      # An import check only: touching the TPU here would grab it from a run that may be going on.
      ".venv/bin/python -c 'import jax, meta_rfft; print(\"meta_rfft installed, jax\", jax.__version__)'",
  ])


def run_script(module: str, workdir: str, args: Sequence[str], run_id: str,
               env: Sequence[tuple[str, str]] = (), gcsfuse: bool = False) -> str:
  """The training/evaluation command every worker runs, its output tee'd to a per-host log on the worker.

  The shell execs the program, so the pid it records is the program's (for `stop`) and ssh exits with the
  program's exit code. With `gcsfuse`, a gs:// workdir's bucket is mounted first and the program gets the
  mounted path.
  """
  q = shlex.quote
  mount = []
  if gcsfuse and workdir.startswith("gs://"):
    mount = [mount_script(split_gcs(workdir)[0])]
    workdir = mounted_path(workdir)
  log_dir = f"{REMOTE_LOGS}/{q(run_id)}"
  assignments = [f"{k}={q(v)}" for k, v in (("META_RFFT_DISTRIBUTED", "tpu"), ("PYTHONUNBUFFERED", "1"), *env)]
  command = " ".join(["exec", "env", *assignments, ".venv/bin/python", "-m", q(module), q(f"--workdir={workdir}"),
                      *map(q, args)])
  return "; ".join([
      "set -eu",
      f"mkdir -p {log_dir}",
      # $(hostname) stays unquoted: each worker names its own files.
      f"echo $$ > {log_dir}/$(hostname).pid",
      f"exec > >(tee -a {log_dir}/$(hostname).log) 2>&1",
      *mount,
      f"cd {REMOTE_DIR}",
      command,
  ])


def stop_script(run_id: str) -> str:
  """Stops the run's program on a worker (if it is still there): SIGTERM (the trainer saves), then SIGKILL."""
  pidfile = f"{REMOTE_LOGS}/{shlex.quote(run_id)}/$(hostname).pid"
  return "; ".join([
      f"pid=$(cat {pidfile} 2>/dev/null || true)",
      # Only a process that is still our program: pids are reused.
      # (A zombie has an empty cmdline, so the wait also ends once the program has exited but is not reaped.)
      'ours() { grep -qa meta_rfft /proc/$pid/cmdline 2>/dev/null; }',
      'if [ -n "$pid" ] && ours; then kill -TERM $pid; for i in $(seq 60); do ours || break; sleep 1; done; '
      "if ours; then kill -KILL $pid; fi; fi",
      "true",
  ])
