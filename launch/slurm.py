"""Launch meta_rfft on several GPU nodes with SLURM: one process per node, each driving all of its GPUs.

  python launch/slurm.py --nodes=4 --gpus-per-node=8 --partition=h100 --time=24:00:00 \
      --workdir=/shared/runs/rfft32b -- --config=configs/rf_pretrain.py:pissa --config.train.steps=700

writes the batch script (under logs/slurm/ unless --script is given) and submits it with `sbatch`;
`--dry-run` prints the script and the sbatch command instead. Inside the job, the first node of the allocation
is the coordinator (`scontrol show hostnames`), its port is derived from the job id, and `srun` starts one task
per node; `meta_rfft.distributed.initialize` reads JAX_COORDINATOR_ADDRESS and SLURM_NTASKS / SLURM_PROCID.
--workdir must be on a file system every node sees; with --requeue a preempted job restarts from its last
checkpoint there.
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import time
from typing import Sequence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shell import env_pairs  # noqa: E402  (sibling module of this script)


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0], fromfile_prefix_chars="@")
  p.add_argument("--nodes", type=int, required=True)
  p.add_argument("--gpus-per-node", type=int, default=8)
  p.add_argument("--cpus-per-node", type=int, default=0, help="0: leave to the cluster's default")
  p.add_argument("--partition", default="")
  p.add_argument("--account", default="")
  p.add_argument("--time", default="", help="wall-clock limit, e.g. 24:00:00")
  p.add_argument("--job-name", default="meta_rfft")
  p.add_argument("--requeue", action="store_true", help="let SLURM requeue the job after preemption")
  p.add_argument("--sbatch-flag", action="append", default=[], dest="sbatch_flags",
                 help="extra #SBATCH line, e.g. --sbatch-flag=--exclusive (repeatable)")
  p.add_argument("--module", default="meta_rfft.train", help="python -m MODULE (e.g. meta_rfft.evaluate)")
  p.add_argument("--workdir", required=True, help="run directory on storage shared by all nodes")
  p.add_argument("--repo", default=REPO, help="this checkout, as seen from the compute nodes")
  p.add_argument("--python", default="", help="interpreter on the nodes (default: REPO/.venv/bin/python)")
  p.add_argument("--env", action="append", default=[], help="KEY=VALUE exported for every task (repeatable)")
  p.add_argument("--port", type=int, default=0, help="coordinator port (default: 61440 + job id %% 4096)")
  p.add_argument("--log-dir", default="", help="where SLURM writes the job's output (default: REPO/logs/slurm)")
  p.add_argument("--script", default="", help="where to write the batch script")
  p.add_argument("--dry-run", action="store_true", help="print the script and the sbatch command only")
  return p


# #SBATCH lines are read by sbatch, not by a shell: nothing there can be quoted, and a newline would end the
# header (sbatch ignores every #SBATCH line after the first command) and run what follows as a command. So each
# value that reaches a #SBATCH line is checked against what SLURM accepts for it.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")        # --job-name: also a file name under logs/slurm
_VALUE = re.compile(r"[A-Za-z0-9_.,:+@%=/-]+")              # --partition, --account, --time
_FLAG = re.compile(r"--[A-Za-z][A-Za-z0-9-]*(=[A-Za-z0-9_.,:+@%=/-]+)?")  # --sbatch-flag
_PATH = re.compile(r"[^\x00-\x20\x7f]+")                    # --log-dir: no whitespace or control characters


def check_sbatch_values(a: argparse.Namespace) -> None:
  """Stops with an error naming the flag when a value could break or escape the #SBATCH header."""
  def bad(flag, value, what):
    raise SystemExit(f"error: {flag}={value!r}: {what}")
  if not _NAME.fullmatch(a.job_name):
    bad("--job-name", a.job_name, "use letters, digits and _ . + - (it names the batch script and the log)")
  for flag, value in (("--partition", a.partition), ("--account", a.account), ("--time", a.time)):
    if value and not _VALUE.fullmatch(value):
      bad(flag, value, "use letters, digits and _ . , : + @ % = / - (no spaces, quotes or newlines)")
  for value in a.sbatch_flags:
    if not _FLAG.fullmatch(value):
      bad("--sbatch-flag", value, "expected one long option such as --exclusive or --mem=64G (no spaces, quotes "
          "or newlines)")
  if a.port != 0 and not 1 <= a.port <= 65535:
    bad("--port", a.port, "must be a TCP port, 1-65535 (0: derived from the job id)")
  if a.log_dir and not _PATH.fullmatch(a.log_dir):
    bad("--log-dir", a.log_dir, "no whitespace or control characters (the path goes into #SBATCH --output)")
  if not a.log_dir and not _PATH.fullmatch(a.repo):
    bad("--repo", a.repo, "no whitespace or control characters (the default log folder REPO/logs/slurm goes into "
        "#SBATCH --output); give --log-dir")


def batch_script(a: argparse.Namespace, entry_args: Sequence[str]) -> str:
  q = shlex.quote
  if a.nodes < 1 or a.gpus_per_node < 0:
    raise SystemExit(f"error: --nodes={a.nodes} and --gpus-per-node={a.gpus_per_node} must be positive")
  check_sbatch_values(a)
  log_dir = a.log_dir or os.path.join(a.repo, "logs", "slurm")
  python = a.python or os.path.join(a.repo, ".venv", "bin", "python")
  sbatch = [f"--job-name={a.job_name}", f"--nodes={a.nodes}", "--ntasks-per-node=1",
            f"--output={os.path.join(log_dir, '%x-%j.out')}"]
  if a.gpus_per_node:
    sbatch.append(f"--gpus-per-node={a.gpus_per_node}")
  if a.cpus_per_node:
    sbatch.append(f"--cpus-per-task={a.cpus_per_node}")
  for flag, value in (("partition", a.partition), ("account", a.account), ("time", a.time)):
    if value:
      sbatch.append(f"--{flag}={value}")
  if a.requeue:
    sbatch.append("--requeue")
  sbatch.extend(a.sbatch_flags)
  port = str(a.port) if a.port else "$((61440 + SLURM_JOB_ID % 4096))"
  exports = [("META_RFFT_DISTRIBUTED", "slurm"), ("PYTHONUNBUFFERED", "1"), *env_pairs(a.env)]
  command = shlex.join([python, "-m", a.module, f"--workdir={a.workdir}", *entry_args])
  lines = ["#!/bin/bash", *(f"#SBATCH {s}" for s in sbatch), "",
           "# Generated by launch/slurm.py: one process per node; each sees all of its node's GPUs.",
           "set -euo pipefail",
           f"cd {q(a.repo)}",
           "# Process 0 runs on the first node of the allocation and hosts the JAX coordination service.",
           'COORDINATOR_HOST="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"',
           f'export JAX_COORDINATOR_ADDRESS="${{COORDINATOR_HOST}}:{port}"',
           *(f"export {k}={q(v)}" for k, v in exports),
           'echo "[launch] job $SLURM_JOB_ID: $SLURM_JOB_NUM_NODES nodes, coordinator $JAX_COORDINATOR_ADDRESS"',
           "# --kill-on-bad-exit: if one task fails, SLURM stops the others at once (the JAX heartbeat would",
           "# otherwise take distributed.heartbeat_timeout_s).",
           f"srun --nodes={a.nodes} --ntasks-per-node=1 --kill-on-bad-exit=1 --label {command}", ""]
  return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  entry_args: list[str] = []
  if "--" in argv:
    cut = argv.index("--")
    argv, entry_args = argv[:cut], argv[cut + 1:]
  a = _parser().parse_args(argv)
  if any(x == "--workdir" or x.startswith("--workdir=") for x in entry_args):
    raise SystemExit("error: give the work directory as the launcher's --workdir, not after '--'")
  script = batch_script(a, entry_args)
  path = a.script or os.path.join(a.repo, "logs", "slurm", f"{a.job_name}-{time.strftime('%Y%m%d-%H%M%S')}.sbatch")
  submit = ["sbatch", path]
  if a.dry_run:
    print(f"# batch script ({path}):")
    print(script)
    print(shlex.join(submit))
    return 0
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  os.makedirs(a.log_dir or os.path.join(a.repo, "logs", "slurm"), exist_ok=True)
  with open(path + ".tmp", "w") as f:
    f.write(script)
  os.replace(path + ".tmp", path)
  print(shlex.join(submit), flush=True)
  return subprocess.call(submit)


if __name__ == "__main__":
  sys.exit(main())
