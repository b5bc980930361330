"""compile_only on the CPU: the train step compiles from the batch contract alone, with no data read."""
from __future__ import annotations

import pytest

from meta_rfft.train import trainer
from train_helpers import tiny_config


def test_compile_only_needs_no_data(tmp_path):
  missing = tmp_path / "nowhere" / "tokenizer.json"
  config = tiny_config(train={"data_source": "pipeline"}, data={"vocab": str(missing)})
  config.compile_only = True
  result = trainer.train(config, str(tmp_path / "compiled"))
  assert result.stop_reason == "compile_only" and result.traces["train"] == 1
  # The same config really does need data to train: the missing tokenizer is named.
  config.compile_only = False
  with pytest.raises(Exception, match="nowhere"):
    trainer.train(config, str(tmp_path / "trained"))
