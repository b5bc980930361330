"""Temporary files of a killed command: TensorFlow's autograph writes a `__autograph_generated_file*.py` per
converted tf.data function and removes it only at a clean exit. Every command that may use TensorFlow writes its
temporary files into a folder of its own, which the next command removes once its owner is dead."""
from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys

import pytest

from meta_rfft import scratch

ROOT = pathlib.Path(__file__).resolve().parents[1]

# A real tf.data pipeline whose map function autograph converts (it branches on a tensor).
PROGRAM = """
import os, sys, time
from meta_rfft import scratch
folder = scratch.use_private_tempdir()
import tensorflow as tf
def clip(x):
  if x > 2:
    return x - 1
  return x
print([int(x) for x in tf.data.Dataset.range(5).map(clip).as_numpy_iterator()], flush=True)
print(folder, flush=True)
time.sleep(600)
"""


def test_a_killed_process_temporary_files_are_removed_by_the_next_command(tmp_path):
  env = dict(os.environ, TMPDIR=str(tmp_path))
  program = tmp_path / "program.py"  # autograph reads a function's source: `python -c` has none
  program.write_text(PROGRAM)
  proc = subprocess.Popen([sys.executable, str(program)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True)
  try:
    assert proc.stdout.readline().strip() == "[0, 1, 2, 2, 3]"
    folder = pathlib.Path(proc.stdout.readline().strip())
    assert folder.parent == tmp_path / scratch.BASE_NAME
    generated = list(folder.glob("__autograph_generated_file*.py"))
    assert generated, sorted(os.listdir(folder))
    assert scratch.reap(str(folder.parent)) == []  # its owner is alive
    assert all(f.exists() for f in generated)
  finally:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
  assert all(f.exists() for f in generated)  # SIGKILL ran no cleanup
  assert scratch.reap(str(folder.parent)) == [str(folder)]
  assert not folder.exists()
  assert not list(tmp_path.rglob("__autograph_generated_file*"))
  assert sorted(os.listdir(tmp_path)) == [scratch.BASE_NAME, "program.py"]


@pytest.mark.parametrize("command", ["train", "evaluate", "pipeline", "data", "tasks", "multiturn"])
def test_every_command_keeps_its_temporary_files_in_its_own_folder_and_removes_it(tmp_path, command):
  # A refused command line: the process sets up its folder first and removes it at exit.
  proc = subprocess.run([sys.executable, "-m", f"meta_rfft.{command}", "--no-such-flag"], cwd=ROOT,
                        env=dict(os.environ, TMPDIR=str(tmp_path)), capture_output=True, text=True, timeout=300)
  assert proc.returncode == 2, proc.stderr
  assert os.listdir(tmp_path) == [scratch.BASE_NAME]
  assert os.listdir(tmp_path / scratch.BASE_NAME) == []
