"""A full disk, for real: the trainer runs with its WORKDIR on a small tmpfs (mounted in a private mount namespace,
so the test needs `unshare` and the right to mount there, as root in a container has). A checkpoint the disk
cannot hold is refused before any byte of it is written, with one line naming it and exit 74; once there is
room, the same command resumes from the last complete checkpoint and finishes. The classification of a write
error as a full disk is tested on real OS errors from /dev/full.
"""
from __future__ import annotations

import json
import pathlib
import shlex
import subprocess
import sys

import pytest

from meta_rfft import io_paths
from train_helpers import TINY_OVERRIDES

pytestmark = pytest.mark.heavy  # started first: see tests/conftest.py

ROOT = pathlib.Path(__file__).resolve().parents[2]
MOUNT = "/tmp/meta_rfft_disk_full_test"


def _can_mount_tmpfs() -> bool:
  probe = f"mkdir -p {MOUNT} && mount -t tmpfs -o size=64k tmpfs {MOUNT}"
  try:
    return subprocess.run(["unshare", "--mount", "sh", "-c", probe], capture_output=True, timeout=30).returncode == 0
  except (FileNotFoundError, subprocess.TimeoutExpired):
    return False


def _device_full_error() -> OSError:
  """What the evaluator's samples.jsonl writer raises on a full disk (/dev/full fails every write with ENOSPC)."""
  try:
    io_paths.append_lines("/dev/full", ['{"task": "lc_283"}'])
  except OSError as e:
    return e
  raise AssertionError("/dev/full accepted a write")


def test_full_disk_errors_are_recognised_in_any_wrapping():
  real = _device_full_error()
  assert io_paths.out_of_space_message(real).startswith("the disk is full writing /dev/full: ")
  try:
    try:
      raise real
    except OSError as inner:
      raise RuntimeError("save failed in a background thread") from inner
  except RuntimeError as wrapped:
    assert "No space left on device" in io_paths.out_of_space_message(wrapped)
  # TensorStore keeps only the OS error's text in the error Orbax raises.
  assert io_paths.out_of_space_message(ValueError(f"RESOURCE_EXHAUSTED: Failed writing: {real}")) is not None
  assert io_paths.out_of_space_message(ValueError("config.train.steps=-5 must be at least 1")) is None
  assert io_paths.out_of_space_message(PermissionError(13, "Permission denied", "/x")) is None


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs `unshare --mount` and tmpfs mounts (root in a container)")
def test_a_checkpoint_the_disk_cannot_hold_is_refused_whole_and_the_rerun_resumes(tmp_path):
  args = ["--config=configs/rf_pretrain.py:tiny", *TINY_OVERRIDES, "--config.train.steps=20",
          "--config.checkpoint.every=7", "--config.checkpoint.keep=1", "--config.log_every=1000",
          f"--workdir={MOUNT}/run"]
  command = shlex.join([sys.executable, "-m", "meta_rfft.train", *args])
  out = tmp_path / "out"
  # 1.6 MB holds the first checkpoint (its arrays plus Checkpoints' metadata allowance) but not a second beside
  # it (keep=1 deletes the old one only after the new one is complete); then the disk grows and the run resumes.
  script = f"""
    set -u
    mkdir -p {MOUNT} && mount -t tmpfs -o size=1600k tmpfs {MOUNT} || exit 99
    {command} > {out}/first.txt 2>&1; echo $? > {out}/first.rc
    ls {MOUNT}/run/checkpoints > {out}/first.steps
    mount -o remount,size=8m {MOUNT}
    {command} > {out}/second.txt 2>&1; echo $? > {out}/second.rc
    ls {MOUNT}/run/checkpoints > {out}/second.steps
    cp {MOUNT}/run/metrics.jsonl {out}/metrics.jsonl
  """
  out.mkdir()
  proc = subprocess.run(["unshare", "--mount", "sh", "-c", script], cwd=ROOT, capture_output=True, text=True,
                        timeout=600)
  assert proc.returncode == 0, proc.stderr
  first = (out / "first.txt").read_text()
  assert (out / "first.rc").read_text().strip() == "74", first
  last_line = first.strip().splitlines()[-1]
  assert last_line.startswith(f"error: meta_rfft.train: no room for checkpoint 14 in {MOUNT}/run/checkpoints"), first
  assert "Traceback" not in first and "RESOURCE_EXHAUSTED" not in first, first
  # Nothing half-written: only the complete step 7, no Orbax temporary folder.
  assert (out / "first.steps").read_text().split() == ["7"]

  second = (out / "second.txt").read_text()
  assert (out / "second.rc").read_text().strip() == "0", second
  assert f"resumed from {MOUNT}/run/checkpoints/7" in second
  assert (out / "second.steps").read_text().split() == ["20"]
  steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
  assert sorted(set(steps)) == list(range(1, 21))
