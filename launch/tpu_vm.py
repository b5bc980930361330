"""Launch meta_rfft on a Cloud TPU VM or pod slice: one command runs the same program on every worker.

  python launch/tpu_vm.py create --name=rfft --zone=us-east5-b --accelerator-type=v5p-64 \
      --runtime-version=v2-alpha-tpuv5 --queued --provisioning=spot
  python launch/tpu_vm.py setup  --name=rfft --zone=us-east5-b --queued
  python launch/tpu_vm.py run    --name=rfft --zone=us-east5-b --queued --accelerator-type=v5p-64 \
      --runtime-version=v2-alpha-tpuv5 --provisioning=spot --max-restarts=5 \
      --workdir=gs://my-bucket/runs/rfft7b -- --config=configs/rf_pretrain.py --config.train.steps=800
  python launch/tpu_vm.py delete --name=rfft --zone=us-east5-b --queued

Several slices over the data-centre network (multislice): add `--num-slices=N` to every subcommand. `create`
makes one queued resource with N nodes (slices rfft-0 .. rfft-N-1), every command reaches all workers of all
slices, and `run` adds `--config.mesh.dcn_shape=(N,1,1)` (data parallel over slices) unless given.

`--dry-run` prints the exact commands instead of running them. Options can live in a file: `@launch/my.args`
(one option per line). `run` streams every worker's output and keeps it under --log-dir (the interleaved stream,
plus each worker's own log copied back). When the command fails and the slice is no longer READY/ACTIVE
(preempted, maintenance), `run` deletes, recreates and sets up the slice and runs the same command again: the
trainer resumes from the last checkpoint in --workdir, which therefore must be on shared storage (gs://) -- a
recreated VM has a new, empty disk.
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tarfile
import tempfile
import time
from typing import Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import multislice  # noqa: E402  (sibling modules of this script)
import tpu_commands as tc  # noqa: E402
from shell import Shell, env_pairs  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEAD_PEER = "JAX distributed service detected fatal errors"


def _parser() -> argparse.ArgumentParser:
  common = argparse.ArgumentParser(add_help=False)
  g = common.add_argument_group("slice")
  g.add_argument("--name", required=True, help="TPU VM (and queued resource) name")
  g.add_argument("--zone", required=True)
  g.add_argument("--project", default="", help="default: gcloud's configured project")
  g.add_argument("--queued", action="store_true", help="use a queued resource (large or spot slices)")
  g.add_argument("--num-slices", type=int, default=1,
                 help="several slices over the data-centre network (multislice): one queued resource with "
                      "this many nodes, named NAME-0 .. NAME-(N-1); give it to every subcommand")
  g.add_argument("--accelerator-type", default="", help="e.g. v5litepod-16, v5p-64, v4-32")
  g.add_argument("--runtime-version", default="", help="e.g. v2-alpha-tpuv5-lite, v2-alpha-tpuv5")
  g.add_argument("--provisioning", default="standard", choices=("standard", "spot", "preemptible"))
  g.add_argument("--create-flag", action="append", default=[], dest="create_flags",
                 help="extra flag for the create command, e.g. --create-flag=--network=my-net (repeatable)")
  g.add_argument("--dry-run", action="store_true", help="print the commands instead of running them")
  inst = argparse.ArgumentParser(add_help=False)
  inst.add_argument("--extras", default="tpu", help="pip extras installed on the workers: .[EXTRAS]")
  inst.add_argument("--pip-arg", action="append", default=[], dest="pip_args",
                    help="extra pip install argument (repeatable), e.g. --pip-arg=--find-links=URL")
  inst.add_argument("--gcsfuse", action=argparse.BooleanOptionalAction, default=True,
                    help="install gcsfuse on the workers (setup) and mount a gs:// workdir's bucket at "
                         f"{tc.GCS_MOUNT_ROOT}/BUCKET (run), so the program writes ordinary files; "
                         "--no-gcsfuse passes gs:// paths through unchanged")

  p = argparse.ArgumentParser(description=__doc__.split("\n")[0], fromfile_prefix_chars="@",
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = p.add_subparsers(dest="command", required=True)
  c = sub.add_parser("create", parents=[common], help="create the TPU VM or queued resource")
  c.add_argument("--no-wait", action="store_true", help="do not wait for a queued resource to become ACTIVE")
  c.add_argument("--wait-timeout-s", type=int, default=6 * 3600)
  sub.add_parser("setup", parents=[common, inst], help="ship this checkout to every worker and pip install it")
  r = sub.add_parser("run", parents=[common, inst], help="run train/evaluate on every worker, with retries")
  r.add_argument("--module", default="meta_rfft.train", help="python -m MODULE (e.g. meta_rfft.evaluate)")
  r.add_argument("--workdir", required=True, help="the run's work directory, on gs:// so restarts find it")
  r.add_argument("--allow-local-workdir", action="store_true",
                 help="accept a non-gs:// workdir (single-host experiments; lost if the VM is recreated)")
  r.add_argument("--run-id", default="", help="names the logs (default: a UTC timestamp)")
  r.add_argument("--log-dir", default="", help="local log folder (default: logs/tpu/NAME/RUN_ID)")
  r.add_argument("--max-restarts", type=int, default=0, help="recreate-and-rerun attempts after preemption")
  r.add_argument("--env", action="append", default=[], help="KEY=VALUE set for the command on every worker")
  r.add_argument("--wait-timeout-s", type=int, default=6 * 3600)
  r.add_argument("--settle-s", type=int, default=300,
                 help="after an interrupted run (exit 143/255) on a READY slice, wait this long for it to show "
                      "whether it is being preempted")
  st = sub.add_parser("stop", parents=[common], help="stop a run on every worker (SIGTERM: the trainer saves)")
  st.add_argument("--run-id", required=True, help="the run's id, as given to (or printed by) `run`")
  sub.add_parser("status", parents=[common], help="print the slice's state")
  sub.add_parser("delete", parents=[common], help="delete the TPU VM or queued resource")
  return p


def _slice(a: argparse.Namespace) -> tc.Slice:
  return tc.Slice(name=a.name, zone=a.zone, project=a.project, queued=a.queued,
                  accelerator_type=a.accelerator_type, runtime_version=a.runtime_version,
                  provisioning=a.provisioning, extra_create_flags=tuple(a.create_flags),
                  num_slices=a.num_slices)


def _query_state(sh: Shell, argv: list[str]) -> str:
  code, out = sh.capture(argv)
  return out.splitlines()[-1].strip() if code == 0 and out else "NOT_FOUND"


def state_of(sh: Shell, s: tc.Slice) -> str:
  """The slice's state; for several slices the queued resource's, unless one slice is not READY: then
  `NODE=STATE`, which is not healthy, so the whole job is recreated (a multislice job cannot run short of a
  slice)."""
  state = _query_state(sh, tc.describe_state(s))
  if state not in tc.HEALTHY_STATES[s.kind]:
    return state
  for node, argv in zip(s.nodes(), tc.describe_node_states(s)):
    node_state = _query_state(sh, argv)
    if node_state not in tc.HEALTHY_STATES["tpu-vm"]:
      return f"{node}={node_state}"
  return state


def create(sh: Shell, s: tc.Slice, wait: bool = True, timeout_s: int = 6 * 3600) -> None:
  sh.run(tc.create(s))
  if s.kind != "queued" or not wait:
    return  # `tpu-vm create` itself returns once the VM is READY
  if sh.dry_run:
    sh.note(f"then poll every 30 s until it prints ACTIVE: {' '.join(tc.describe_state(s))}")
    return
  deadline = time.monotonic() + timeout_s
  while True:
    state = state_of(sh, s)
    if state in tc.HEALTHY_STATES["queued"]:
      return
    if state not in tc.PENDING_STATES["queued"] or time.monotonic() > deadline:
      raise SystemExit(f"error: queued resource {s.name} is {state}, not ACTIVE; see "
                       f"`gcloud compute tpus queued-resources describe {s.name} --zone={s.zone}`")
    time.sleep(30)


def source_files(repo: str) -> list[str]:
  """Tracked and untracked files of the checkout, .gitignore respected (no venv, workdirs or caches)."""
  try:
    out = subprocess.run(["git", "-C", repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout
  except (OSError, subprocess.CalledProcessError) as e:
    raise SystemExit(f"error: cannot list the files of {repo} with git ({e}); setup ships a git checkout")
  return sorted(f for f in out.decode().split("\0") if f and os.path.isfile(os.path.join(repo, f)))


def setup(sh: Shell, s: tc.Slice, extras: str, pip_args: Sequence[str], gcsfuse: bool = True,
          repo: str = REPO) -> None:
  files = source_files(repo)
  tarball = os.path.join(tempfile.gettempdir(), f"meta_rfft_src_{s.name}.tar.gz")
  sh.note(f"pack {len(files)} files of {repo} (git ls-files: tracked + untracked, .gitignore respected) "
          f"into {tarball}")
  if not sh.dry_run:
    with tarfile.open(tarball + ".tmp", "w:gz") as tar:
      for f in files:
        tar.add(os.path.join(repo, f), arcname=f)
    os.replace(tarball + ".tmp", tarball)
  # One slice after the other: the first gcloud ssh/scp on a machine may create its ssh key, and two at once
  # would race for it. The install below then runs on all slices at once.
  for argv in tc.scp_to_every_node(s, tarball, tc.REMOTE_TARBALL):
    sh.run(argv)
  script = tc.setup_script(extras, pip_args, gcsfuse)
  if sh.dry_run:
    sh.note(f"each worker runs: {script}")
  sh.run_all(tc.ssh_every_node(s, script))


def run(sh: Shell, s: tc.Slice, a: argparse.Namespace, entry_args: Sequence[str]) -> int:
  if not a.workdir.startswith("gs://") and not a.allow_local_workdir:
    raise SystemExit(f"error: --workdir={a.workdir!r} is not on gs://: every worker must see the same "
                     "checkpoints, and a preempted slice comes back with empty disks (or pass "
                     "--allow-local-workdir for a single-host experiment)")
  if any(x == "--workdir" or x.startswith("--workdir=") for x in entry_args):
    raise SystemExit("error: give the work directory as the launcher's --workdir, not after '--'")
  if a.max_restarts > 0:
    try:
      tc.check_slice(s, for_create=True)  # fail now, not after the first preemption
    except ValueError as e:
      raise SystemExit(f"error: --max-restarts recreates the slice: {e}") from None
  try:
    entry_args, mesh_note = multislice.with_dcn_shape(entry_args, s.num_slices)
  except ValueError as e:
    raise SystemExit(f"error: {e}") from None
  if mesh_note:
    sh.note(mesh_note)
  run_id = a.run_id or time.strftime("%Y%m%d-%H%M%S", time.gmtime())
  log_dir = a.log_dir or os.path.join("logs", "tpu", s.name, run_id)
  script = tc.run_script(a.module, a.workdir, entry_args, run_id, env_pairs(a.env), a.gcsfuse)
  slices = f" --num-slices={s.num_slices}" if s.num_slices > 1 else ""
  print(f"[launch] run id {run_id}; stop it with: python launch/tpu_vm.py stop --name={s.name} "
        f"--zone={s.zone}{' --queued' if s.queued else ''}{slices} --run-id={run_id}", file=sys.stderr)
  attempt = 0
  while True:
    stream_log = os.path.join(log_dir, f"attempt{attempt}.log")
    if sh.dry_run:
      sh.note(f"each worker runs: {script}")
    # Several slices: one ssh per slice, all at once; the job as a whole failed if any of them did.
    code = tc.combined_code(sh.stream_all(tc.ssh_every_node(s, script), s.nodes(), stream_log))
    if not sh.dry_run:
      os.makedirs(os.path.join(log_dir, "workers"), exist_ok=True)
    sh.run_all(tc.scp_from_every_node(s, f"{tc.REMOTE_LOGS}/{run_id}", os.path.join(log_dir, "workers")),
               check=False)
    if sh.dry_run:
      _explain_recovery(sh, s, a, script)
      return 0
    state = "" if code == 0 else state_of(sh, s)
    if code in tc.INTERRUPTED_CODES and state in tc.HEALTHY_STATES[s.kind]:
      # The preemption notice (SIGTERM, on which the trainer saves and exits 143) comes before the state
      # changes: give the slice a few minutes to show whether it is really going away.
      state = _settle(sh, s, a.settle_s)
    action = tc.decide(code, state, s.kind, attempt, a.max_restarts)
    if action == "done":
      print(f"[launch] run {run_id} finished on every worker; logs in {log_dir}")
      return 0
    if action == "fail":
      hint = ""
      if os.path.exists(stream_log) and DEAD_PEER in open(stream_log, errors="replace").read():
        hint = " One worker died and the others stopped (JAX heartbeat); look for the first error in the logs."
      print(f"[launch] the command failed (exit {code}) while {s.name} is {state}: not a preemption, so not "
            f"retrying.{hint} Logs: {log_dir}", file=sys.stderr)
      return code
    if action == "give_up":
      print(f"[launch] {s.name} is {state} after the command stopped (exit {code}); no restarts left "
            f"(--max-restarts={a.max_restarts}). Logs: {log_dir}", file=sys.stderr)
      return code
    attempt += 1
    if action == "rerun":  # interrupted (SIGTERM / lost ssh) but the slice stayed up
      print(f"[launch] the run was interrupted (exit {code}) but {s.name} is {state}: running it again "
            f"(restart {attempt} of {a.max_restarts}); it resumes from the last checkpoint in {a.workdir}",
            file=sys.stderr)
      sh.run_all(tc.ssh_every_node(s, tc.stop_script(run_id)), check=False)  # a worker may still run it
      continue
    print(f"[launch] {s.name} is {state}: recreating it (restart {attempt} of {a.max_restarts}); the run "
          f"resumes from the last checkpoint in {a.workdir}", file=sys.stderr)
    sh.run(tc.delete(s), check=False)
    create(sh, s, wait=True, timeout_s=a.wait_timeout_s)
    setup(sh, s, a.extras, a.pip_args, a.gcsfuse)


def _settle(sh: Shell, s: tc.Slice, seconds: int) -> str:
  deadline = time.monotonic() + seconds
  state = state_of(sh, s)
  while state in tc.HEALTHY_STATES[s.kind] and time.monotonic() < deadline:
    time.sleep(30)
    state = state_of(sh, s)
  return state


def _explain_recovery(sh: Shell, s: tc.Slice, a: argparse.Namespace, script: str) -> None:
  sh.note(f"if it fails: query the state; {'/'.join(sorted(tc.HEALTHY_STATES[s.kind]))} after a failure means "
          f"a real error (stop and report), anything else means preempted; after an interruption (exit "
          f"{' or '.join(map(str, tc.INTERRUPTED_CODES))}) wait up to --settle-s={a.settle_s} s for the state to "
          f"change, and if it stays healthy run again in place")
  sh.note(f"  {' '.join(tc.describe_state(s))}")
  if s.num_slices > 1:
    sh.note("and, while it is ACTIVE, each slice's state: any slice not READY means the whole job is "
            "recreated")
    for cmd in tc.describe_node_states(s):
      sh.note("  " + shlex.join(cmd))
  if a.max_restarts <= 0:
    sh.note("no restarts (--max-restarts=0)")
    return
  sh.note(f"when preempted, up to {a.max_restarts} times: delete, create, setup, and run again:")
  for cmd in (tc.delete(s), tc.create(s), *tc.scp_to_every_node(s, "<packed source>", tc.REMOTE_TARBALL),
              *tc.ssh_every_node(s, tc.setup_script(a.extras, a.pip_args, a.gcsfuse)),
              *tc.ssh_every_node(s, script)):
    sh.note("  " + shlex.join(cmd))
  sh.note("when interrupted but the slice stays healthy: stop what is left of the attempt, then run again:")
  for cmd in (*tc.ssh_every_node(s, tc.stop_script(a.run_id or "RUN_ID")), *tc.ssh_every_node(s, script)):
    sh.note("  " + shlex.join(cmd))


def main(argv: Sequence[str] | None = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  entry_args: list[str] = []
  if "--" in argv:  # everything after `--` goes to the program on the workers, untouched
    cut = argv.index("--")
    argv, entry_args = argv[:cut], argv[cut + 1:]
  a = _parser().parse_args(argv)
  if entry_args and a.command != "run":
    raise SystemExit(f"error: arguments after '--' are only for `run`, not `{a.command}`")
  s = _slice(a)
  try:
    tc.check_slice(s, for_create=(a.command == "create"))
    if a.command in ("run", "stop") and (a.run_id or a.command == "stop"):
      tc.check_run_id(a.run_id)
  except ValueError as e:
    raise SystemExit(f"error: {e}") from None
  sh = Shell(a.dry_run)
  if a.command == "create":
    create(sh, s, wait=not a.no_wait, timeout_s=a.wait_timeout_s)
  elif a.command == "setup":
    setup(sh, s, a.extras, a.pip_args, a.gcsfuse)
  elif a.command == "run":
    return run(sh, s, a, entry_args)
  elif a.command == "stop":
    sh.run_all(tc.ssh_every_node(s, tc.stop_script(a.run_id)))
  elif a.command == "status":
    print(state_of(sh, s))
  elif a.command == "delete":
    sh.run(tc.delete(s))
  return 0


if __name__ == "__main__":
  sys.exit(main())
