"""launch/tpu_vm.py --num-slices: one queued resource with N nodes, every worker of every slice reached, the
DCN mesh axis added to the program's config (and a conflicting one refused), the job recreated as a whole."""
import importlib.util
import os
import shlex
import sys

import pytest

from test_tpu_launcher import CREATE, SLICE, TRICKY, commands, launch, program_argv, remote_script

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NODES = ["rfft-7b-0", "rfft-7b-1"]
TWO = ["--num-slices=2"]


def _load(name):
  # launch/ holds scripts, not a package: load by path (registered, as dataclasses need).
  spec = importlib.util.spec_from_file_location(f"launch_{name}", os.path.join(REPO, "launch", f"{name}.py"))
  module = sys.modules.setdefault(f"launch_{name}", importlib.util.module_from_spec(spec))
  spec.loader.exec_module(module)
  return module


multislice = _load("multislice")
shell = _load("shell")
tc = _load("tpu_commands")


def _notes(out):
  return [shlex.split(line[3:].strip()) for line in out.splitlines() if line.startswith("#   ")]


def _reaches_every_worker_of_both_slices(cmds, verb):
  """The `tpu-vm <verb>` commands: one per slice, each for all of that slice's workers."""
  picked = [c for c in cmds if c[:5] == ["gcloud", "compute", "tpus", "tpu-vm", verb]]
  targets = [next(a.split(":")[0] for a in c[5:] if a.split(":")[0] in NODES) for c in picked]
  assert sorted(targets) == NODES, picked
  assert all("--worker=all" in c and "--zone=us-east5-b" in c and "--project=my-proj" in c for c in picked)
  return picked


def test_create_makes_one_queued_resource_with_a_node_per_slice():
  [create] = commands(launch("create", *SLICE, *CREATE, *TWO, "--provisioning=spot", "--dry-run").stdout)
  assert create == ["gcloud", "compute", "tpus", "queued-resources", "create", "rfft-7b", "--node-count=2",
                    "--node-prefix=rfft-7b", "--zone=us-east5-b", "--project=my-proj",
                    "--accelerator-type=v5p-64", "--runtime-version=v2-alpha-tpuv5", "--spot"]
  # --queued is implied; delete removes the queued resource with every slice in it.
  assert commands(launch("delete", *SLICE, *TWO, "--dry-run").stdout) == [
      ["gcloud", "compute", "tpus", "queued-resources", "delete", "rfft-7b", "--zone=us-east5-b",
       "--project=my-proj", "--force", "--quiet"]]


def test_setup_installs_on_every_worker_of_both_slices():
  out = launch("setup", *SLICE, *TWO, "--dry-run").stdout
  cmds = commands(out)
  scp = _reaches_every_worker_of_both_slices(cmds, "scp")
  ssh = _reaches_every_worker_of_both_slices(cmds, "ssh")
  assert len(cmds) == 4 and all(c[6].endswith(":meta_rfft_src.tar.gz") for c in scp)
  for c in ssh:
    steps = remote_script(c).split("; ")
    assert "tar -xzf meta_rfft_src.tar.gz -C meta_rfft" in steps
    assert any(s.startswith(".venv/bin/pip install --quiet") and s.endswith("-e '.[tpu]'") for s in steps)


def test_run_reaches_every_worker_with_the_overrides_and_the_dcn_axis():
  out = launch("run", *SLICE, *CREATE, *TWO, "--dry-run", "--run-id=r1", "--max-restarts=3",
               "--workdir=gs://bucket/runs/7b", "--", *TRICKY).stdout
  cmds = commands(out)
  ssh = _reaches_every_worker_of_both_slices(cmds, "ssh")
  _reaches_every_worker_of_both_slices(cmds, "scp")  # worker logs come back from both slices
  assert len(cmds) == 4
  for c in ssh:
    env, argv = program_argv(remote_script(c))
    assert argv == [".venv/bin/python", "-m", "meta_rfft.train", "--workdir=/mnt/gcs/bucket/runs/7b", *TRICKY,
                    "--config.mesh.dcn_shape=(2,1,1)"]
    # The TPU runtime gives every worker of a queued-resource multislice its MEGASCALE_* settings.
    assert env == ["META_RFFT_DISTRIBUTED=tpu", "PYTHONUNBUFFERED=1"]
    assert "gcsfuse --implicit-dirs bucket /mnt/gcs/bucket" in remote_script(c)
  assert "added --config.mesh.dcn_shape=(2,1,1)" in out
  # Preemption of either slice recreates the whole job: per-slice states are checked, and the recovery
  # deletes and recreates the queued resource with both nodes, sets both up and reruns on both.
  notes = _notes(out)
  describes = [n[5] for n in notes if n[3:5] == ["tpu-vm", "describe"]]
  assert describes == NODES
  verbs = [n[3:5] for n in notes if n[3:5] != ["tpu-vm", "describe"]]
  assert verbs == [["queued-resources", "describe"], ["queued-resources", "delete"],
                   ["queued-resources", "create"], *[["tpu-vm", "scp"]] * 2, *[["tpu-vm", "ssh"]] * 8]
  create = next(n for n in notes if n[3:5] == ["queued-resources", "create"])
  assert "--node-count=2" in create and "--node-prefix=rfft-7b" in create
  reruns = [n for n in notes if n[3:5] == ["tpu-vm", "ssh"]]
  assert sorted(n[5] for n in reruns) == sorted(NODES * 4) and all("--worker=all" in n for n in reruns)


@pytest.mark.parametrize("given, expected", [
    (["--config.mesh.dcn_shape=(1,2,1)"], ["--config.mesh.dcn_shape=(1,2,1)"]),  # the user's layout, kept
    (["--config.mesh.dcn_shape", "2,1,1"], ["--config.mesh.dcn_shape", "2,1,1"]),
    (["--config.mesh.dcn_shape=(-1,1,1)"], ["--config.mesh.dcn_shape=(-1,1,1)"]),
    (["--config.mesh.axes=('fsdp','data','tensor')"],
     ["--config.mesh.axes=('fsdp','data','tensor')", "--config.mesh.dcn_shape=(1,2,1)"]),
])
def test_a_given_dcn_shape_or_axes_order_is_respected(given, expected):
  out = launch("run", *SLICE, *TWO, "--dry-run", "--workdir=gs://b/r", "--", "--config=c.py", *given).stdout
  for c in commands(out)[:2]:
    assert program_argv(remote_script(c))[1][4:] == ["--config=c.py", *expected]


@pytest.mark.parametrize("given", [
    ["--config.mesh.dcn_shape=(4,1,1)"],
    # the last one counts, as in the config loader
    ["--config.mesh.dcn_shape=(2,1,1)", "--config.mesh.dcn_shape=(1,1,1)"],
    ["--config.mesh.dcn_shape", "3"],
    ["--config.mesh.dcn_shape=(two,1,1)"],
    ["--config.mesh.axes=('fsdp','tensor')"],  # no data axis: the user must say where the slices go
])
def test_a_dcn_shape_that_does_not_span_the_slices_is_refused(given):
  done = launch("run", *SLICE, *TWO, "--dry-run", "--workdir=gs://b/r", "--", "--config=c.py", *given,
                ok=False)
  assert done.returncode != 0 and "--config.mesh.dcn_shape" in done.stderr, done.stderr
  assert not commands(done.stdout)


def test_one_slice_is_unchanged_by_an_explicit_num_slices_1():
  for args in (["run", *SLICE, *CREATE, "--queued", "--dry-run", "--run-id=r", "--max-restarts=1",
                "--workdir=gs://b/r", "--", "--config.mesh.dcn_shape=(8,1,1)"],
               ["setup", *SLICE, "--dry-run"], ["create", *SLICE, *CREATE, "--queued", "--dry-run"]):
    assert launch(*args).stdout == launch(*args[:1], "--num-slices=1", *args[1:]).stdout
  done = launch("status", *SLICE, "--num-slices=0", "--dry-run", ok=False)
  assert done.returncode != 0 and "--num-slices" in done.stderr


def test_the_added_dcn_shape_is_what_the_config_loader_reads():
  from meta_rfft.config.loader import load_config
  from meta_rfft.sharding.mesh import DEFAULT_AXES
  assert multislice.DEFAULT_AXES == DEFAULT_AXES
  args, _ = multislice.with_dcn_shape([f"--config={REPO}/configs/demo.py"], 4)
  config, _ = load_config(args)
  assert tuple(config.mesh.dcn_shape) == (4, 1, 1) and tuple(config.mesh.axes) == DEFAULT_AXES


@pytest.mark.parametrize("codes, combined", [
    ([0, 0], 0), ([0, 1], 1), ([1, 255], 255), ([134, 143, 1], 143), ([2, 1], 2)])
def test_the_exit_code_of_a_run_over_several_slices(codes, combined):
  # A lost slice (255) makes the others die of the JAX heartbeat: the job was interrupted, not broken.
  assert tc.combined_code(codes) == combined


def test_stream_all_runs_the_slices_side_by_side_and_labels_their_lines(tmp_path, capsys):
  log = tmp_path / "attempt0.log"
  # Each command waits for the other's file: they only finish if they run at the same time.
  a, b = tmp_path / "a", tmp_path / "b"
  wait = "for i in $(seq 200); do test -e {0} && break; sleep 0.05; done; test -e {0}"
  codes = shell.Shell(dry_run=False).stream_all(
      [["bash", "-c", f"touch {a}; {wait.format(b)}; echo from zero"],
       ["bash", "-c", f"touch {b}; {wait.format(a)}; echo from one; exit 255"]], NODES, str(log))
  assert codes == [0, 255]
  lines = sorted(log.read_text().splitlines())
  assert lines == ["[rfft-7b-0] from zero", "[rfft-7b-1] from one"]
  assert sorted(capsys.readouterr().out.splitlines()[-2:]) == lines
