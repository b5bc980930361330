"""A run refused on resume (its config builds another model than WORKDIR's checkpoints hold) names the config
keys at fault and leaves WORKDIR as it was: config.json, hf/config.json and every checkpoint untouched."""
from __future__ import annotations

import os

import pytest

from meta_rfft.train import trainer
from meta_rfft.train.checkpointing import Checkpoints
from train_helpers import tiny_config


def _snapshot(workdir) -> dict[str, bytes]:
  out = {}
  for folder, _, files in os.walk(workdir):
    for name in files:
      if "tensorboard" not in folder:  # event files are appended to by design
        path = os.path.join(folder, name)
        with open(path, "rb") as f:
          out[os.path.relpath(path, workdir)] = f.read()
  return out


def test_a_resume_with_another_model_shape_is_refused_and_writes_nothing(tmp_path):
  workdir = str(tmp_path / "run")
  trainer.train(tiny_config(train={"steps": 2}, checkpoint={"every": 1}, eval={"every": 0}), workdir)
  before = _snapshot(workdir)
  assert "config.json" in before and os.path.join("hf", "config.json") in before

  wider = tiny_config(train={"steps": 3}, checkpoint={"every": 1}, eval={"every": 0})
  wider.model.arch.hidden_size = 64
  with pytest.raises(ValueError) as err:
    trainer.train(wider, workdir)
  message = str(err.value)
  assert "holds tensors of other shapes than this config builds" in message
  assert "config.model.arch.hidden_size: 32 there, 64 now" in message
  assert "unreadable" not in message
  assert _snapshot(workdir) == before  # nothing rewritten, nothing set aside
  assert not os.path.exists(os.path.join(workdir, "checkpoints_unreadable"))
  assert Checkpoints(workdir, keep=3).all_steps() == [1, 2]
