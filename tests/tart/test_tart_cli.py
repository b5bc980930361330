"""`python -m meta_rfft.tart` (meta_rfft.tart.cli.main): a bad command, config key or WORKDIR exits 2 with one line
naming it. The commands' common entry (exit codes, scratch folders) runs as a process in tests/test_scratch.py."""
from __future__ import annotations

import os
import pathlib

from meta_rfft.tart.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _run(capsys, *args) -> tuple[int, str]:
  capsys.readouterr()
  cwd = os.getcwd()
  os.chdir(ROOT)  # the configs are named relative to the repository, as in the docs
  try:
    code = main(list(args))
  except SystemExit as e:  # a config that does not load exits where it is read
    code = e.code
  finally:
    os.chdir(cwd)
  return code, capsys.readouterr().err


def test_unknown_command_prints_usage(capsys):
  code, err = _run(capsys, "fit", "--config=configs/tart.py:tiny", "--workdir=x")
  assert code == 2 and "one of train, evaluate" in err


def test_unknown_variant_and_key_are_named(tmp_path, capsys):
  code, err = _run(capsys, "train", "--config=configs/tart.py:huge", f"--workdir={tmp_path}")
  assert code == 2 and "unknown variant 'huge'" in err
  code, err = _run(capsys, "train", "--config=configs/tart.py:tiny", "--config.head.widht=8", f"--workdir={tmp_path}")
  assert code == 2 and "head.widht" in err
  assert not any(tmp_path.iterdir())


def test_evaluate_before_training_is_named_and_writes_nothing(tmp_path, capsys):
  code, err = _run(capsys, "evaluate", "--config=configs/tart.py:tiny", f"--workdir={tmp_path}")
  assert code == 2, err
  assert err.strip().splitlines()[-1].startswith("error: ") and "holds no trained head" in err
  assert not (tmp_path / "tart_eval").exists()
