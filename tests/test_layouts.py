"""meta_rfft/layouts.py against the writers of each layout: the trainer's checkpoints (Orbax, through
train.checkpointing) are found where the layout says, steps Orbax has not finished are not complete, and a step
folder leads back to its WORKDIR's HF files."""
from __future__ import annotations

import logging
import os

import jax
import numpy as np
import pytest

from meta_rfft import layouts
from meta_rfft.convert.checkpoint import open_param, param_shapes
from meta_rfft.train.checkpointing import Checkpoints
from meta_rfft.train.random_tokens import RandomTokenBatches


def test_trainer_steps_are_where_the_layout_says(tmp_path, caplog):
  rng = np.random.default_rng(0)
  params = {"w": jax.numpy.asarray(rng.normal(size=(4, 3)).astype(np.float32))}
  ckpts = Checkpoints(str(tmp_path / "run"), keep=2, async_save=False)
  for step in (5, 10):
    ckpts.save(step, params=params, adapters=None, opt_state=(params,), iterator=RandomTokenBatches(2, 8, 16), meta={})
  ckpts.close()
  (tmp_path / "run" / "checkpoints" / "15.orbax-checkpoint-tmp").mkdir()  # a save killed midway

  workdir = layouts.Workdir.at(tmp_path / "run")
  assert workdir.complete_steps() == [5, 10]
  step = workdir.step(10)
  assert step.workdir == workdir
  assert step.exists() and step.item("meta").is_dir() and step.item("data").is_dir()
  assert not step.item("adapters").exists()
  assert os.fspath(step.workdir.hf) == os.fspath(tmp_path / "run" / "hf")
  with pytest.raises(KeyError, match="'weights' is not a checkpoint item"):
    step.item("weights")
  assert layouts.Workdir.at(tmp_path / "nothing").complete_steps() == []

  # A step's params/ is read as the item it is: no warning that it lacks a checkpoint's own metadata file, and
  # the params share one TensorStore context.
  with caplog.at_level(logging.WARNING):
    assert param_shapes(os.fspath(step.item("params"))) == {"w": (4, 3)}
    np.testing.assert_array_equal(open_param(os.fspath(step.item("params")), "w").read().result(),
                                  np.asarray(params["w"]))
  assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
