"""`python -m meta_rfft.tart`: a bad command, config key or WORKDIR exits 2 with one line naming it."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _run(*args, cwd=ROOT):
  env = dict(os.environ, XLA_FLAGS="", JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "-m", "meta_rfft.tart", *args], cwd=cwd, env=env, capture_output=True,
                        text=True, timeout=300)


def test_unknown_command_prints_usage():
  out = _run("fit", "--config=configs/tart.py:tiny", "--workdir=x")
  assert out.returncode == 2 and "one of train, evaluate" in out.stderr


def test_unknown_variant_and_key_are_named(tmp_path):
  out = _run("train", "--config=configs/tart.py:huge", f"--workdir={tmp_path}")
  assert out.returncode == 2 and "unknown variant 'huge'" in out.stderr
  out = _run("train", "--config=configs/tart.py:tiny", "--config.head.widht=8", f"--workdir={tmp_path}")
  assert out.returncode == 2 and "head.widht" in out.stderr
  assert not any(tmp_path.iterdir())


def test_evaluate_before_training_is_named_and_writes_nothing(tmp_path):
  out = _run("evaluate", "--config=configs/tart.py:tiny", f"--workdir={tmp_path}")
  assert out.returncode == 2, out.stderr
  assert out.stderr.strip().splitlines()[-1].startswith("error: ") and "holds no trained head" in out.stderr
  assert not (tmp_path / "tart_eval").exists()
