"""A run refused on resume (its config builds another model, or reads another data stream, than WORKDIR's
checkpoints hold) names the config keys at fault and leaves WORKDIR as it was: config.json, hf/config.json and
every checkpoint untouched. A damaged checkpoint, unlike a config change, is set aside and the run resumes from
the one before it."""
from __future__ import annotations

import os
import shutil

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


def test_a_resume_into_another_data_stream_is_refused_and_moves_no_checkpoint(tmp_path):
  """The data iterator's saved position belongs to the stream it was saved from: a resume with other data
  settings is the config's fault, so it is refused by name and every checkpoint stays where it is."""
  workdir = str(tmp_path / "run")
  trainer.train(tiny_config(train={"steps": 2}, checkpoint={"every": 1}, eval={"every": 0}), workdir)
  before = _snapshot(workdir)
  other = tiny_config(train={"steps": 3}, checkpoint={"every": 1}, eval={"every": 0}, data={"seed": 7})
  with pytest.raises(ValueError) as err:
    trainer.train(other, workdir)
  message = str(err.value)
  assert message.startswith("refused to resume: ") and "config.data.seed: 0 there, 7 now" in message, message
  assert _snapshot(workdir) == before
  assert not os.path.exists(os.path.join(workdir, "checkpoints_unreadable"))
  assert Checkpoints(workdir, keep=3).all_steps() == [1, 2]


@pytest.mark.parametrize("damage", ["empty step folder", "params removed"])
def test_a_damaged_latest_checkpoint_is_set_aside_and_the_run_resumes_from_the_one_before(tmp_path, damage):
  workdir = str(tmp_path / "run")
  cfg = lambda steps: tiny_config(train={"steps": steps}, checkpoint={"every": 1}, eval={"every": 0})  # noqa: E731
  trainer.train(cfg(2), workdir)
  if damage == "empty step folder":
    os.makedirs(os.path.join(workdir, "checkpoints", "3"))
    damaged = 3
  else:
    shutil.rmtree(os.path.join(workdir, "checkpoints", "2", "params"))
    damaged = 2
  result = trainer.train(cfg(4), workdir)
  assert result.step == 4 and result.stop_reason == "done"
  aside = os.listdir(os.path.join(workdir, "checkpoints_unreadable"))
  assert [a.split("-")[0] for a in aside] == [str(damaged)]
  assert Checkpoints(workdir, keep=3).all_steps()[-1] == 4
