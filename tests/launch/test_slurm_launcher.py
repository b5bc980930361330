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
ENTRY = ["--config=configs/rf_pretrain.py:pissa", "--config.train.name=it's; $HOME", "--config.train.steps=700"]


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
    (["--nodes=2", "--workdir=/s/r", "--port=99999", "--dry-run"], "--port=99999: must be a TCP port, 1-65535"),
    (["--nodes=2", "--workdir=/s/r", "--port=-1", "--dry-run"], "--port=-1: must be a TCP port"),
])
def test_bad_arguments_name_the_flag(args, message):
  done = launch(*args, ok=False)
  assert done.returncode != 0 and message in done.stderr, done.stderr


@pytest.mark.parametrize("flag, value", [
    ("--job-name", "rfft\ntouch {marker}"), ("--job-name", "../../x"), ("--job-name", "a b"),
    ("--partition", "h100\n#SBATCH --nodes=99"), ("--time", "1:00:00 ; rm"), ("--account", "a'b"),
    ("--sbatch-flag", "--exclusive\necho hi"), ("--sbatch-flag", "exclusive"), ("--log-dir", "/l\nls"),
])
def test_values_that_would_break_the_sbatch_header_are_refused(tmp_path, flag, value):
  """A newline in a #SBATCH value would end the header and run the rest as a command; a '/' in the job name
  would put the script outside logs/slurm. Each is refused by name, and nothing is written."""
  repo, marker = tmp_path / "repo", tmp_path / "injected"
  repo.mkdir()
  value = value.format(marker=marker)
  done = launch("--nodes=2", "--workdir=/s/r", f"--repo={repo}", f"{flag}={value}", ok=False)
  assert done.returncode != 0 and f"{flag}=" in done.stderr and "Traceback" not in done.stderr, done.stderr
  assert not (repo / "logs").exists() and not marker.exists()


def test_every_accepted_value_stays_one_sbatch_line(tmp_path):
  out = launch("--nodes=2", "--workdir=/s/r", "--job-name=rfft-32b.v2", "--partition=h100,a100",
               "--account=lab@x", "--time=1-00:00:00", "--sbatch-flag=--exclusive", "--sbatch-flag=--mem=64G",
               f"--log-dir={tmp_path}/logs", "--dry-run").stdout
  sbatch = [l for l in out.splitlines() if l.startswith("#SBATCH ")]
  assert {"#SBATCH --job-name=rfft-32b.v2", "#SBATCH --partition=h100,a100", "#SBATCH --account=lab@x",
          "#SBATCH --time=1-00:00:00", "#SBATCH --exclusive", "#SBATCH --mem=64G"} <= set(sbatch)
  assert os.path.join(REPO, "logs", "slurm", "rfft-32b.v2-") in out.splitlines()[0]
