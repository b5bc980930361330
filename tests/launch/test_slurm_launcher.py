"""launch/slurm.py: the batch script starts one process per node with the first node as JAX coordinator."""
import os
import shlex
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAUNCHER = os.path.join(REPO, "launch", "slurm.py")
ARGS = ["--nodes=4", "--gpus-per-node=8", "--partition=h100", "--time=24:00:00", "--requeue",
        "--workdir=/shared/runs/32b", "--env=XLA_FLAGS=--xla_gpu_a=true --xla_gpu_b=1"]
ENTRY = ["--config=configs/rf_pretrain.py:32b", "--config.train.name=it's; $HOME", "--config.train.steps=700"]


def launch(*args, ok=True):
  done = subprocess.run([sys.executable, LAUNCHER, *args], cwd=REPO, capture_output=True, text=True, timeout=60)
  if ok:
    assert done.returncode == 0, done.stderr
  return done


def test_batch_script_one_task_per_node_coordinator_from_first_node(tmp_path):
  script_path = str(tmp_path / "job.sbatch")
  out = launch(*ARGS, f"--script={script_path}", "--dry-run", "--", *ENTRY).stdout
  lines = out.splitlines()
  assert lines[-1] == f"sbatch {script_path}"
  script = "\n".join(lines[1:-1])
  assert not os.path.exists(script_path)  # a dry run writes nothing
  sbatch = [l.split(" ", 1)[1] for l in script.splitlines() if l.startswith("#SBATCH ")]
  assert {"--nodes=4", "--ntasks-per-node=1", "--gpus-per-node=8", "--partition=h100", "--time=24:00:00",
          "--requeue"} <= set(sbatch)
  assert 'COORDINATOR_HOST="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"' in script
  assert 'export JAX_COORDINATOR_ADDRESS="${COORDINATOR_HOST}:$((61440 + SLURM_JOB_ID % 4096))"' in script
  assert "export META_RFFT_DISTRIBUTED=slurm" in script.splitlines()
  [srun] = [shlex.split(l) for l in script.splitlines() if l.startswith("srun ")]
  python = os.path.join(REPO, ".venv", "bin", "python")
  assert srun == ["srun", "--nodes=4", "--ntasks-per-node=1", "--kill-on-bad-exit=1", "--label", python, "-m",
                  "meta_rfft.train", "--workdir=/shared/runs/32b", *ENTRY]
  exports = [shlex.split(l)[1] for l in script.splitlines() if l.startswith("export XLA_FLAGS")]
  assert exports == ["XLA_FLAGS=--xla_gpu_a=true --xla_gpu_b=1"]
  # The script is valid bash.
  path = tmp_path / "check.sh"
  path.write_text(script)
  assert subprocess.run(["bash", "-n", str(path)], capture_output=True, timeout=30).returncode == 0


def test_port_and_module_options_and_written_script(tmp_path):
  script_path = tmp_path / "sub" / "job.sbatch"
  out = launch("--nodes=2", "--port=29500", "--module=meta_rfft.evaluate", "--workdir=/s/r",
               f"--script={script_path}", "--dry-run").stdout
  assert 'export JAX_COORDINATOR_ADDRESS="${COORDINATOR_HOST}:29500"' in out
  assert "-m meta_rfft.evaluate --workdir=/s/r" in out


@pytest.mark.parametrize("args, message", [
    (["--nodes=2", "--workdir=/s/r", "--dry-run", "--", "--workdir=/elsewhere"], "launcher's --workdir"),
    (["--nodes=0", "--workdir=/s/r", "--dry-run"], "--nodes=0"),
    (["--nodes=2", "--workdir=/s/r", "--env=NOEQUALS", "--dry-run"], "--env"),
])
def test_bad_arguments_name_the_flag(args, message):
  done = launch(*args, ok=False)
  assert done.returncode != 0 and message in done.stderr, done.stderr
