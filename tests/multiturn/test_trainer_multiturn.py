"""The trainer on multi-turn data: one real training step (python -m meta_rfft.train's `train`) under
`--config.data.multi_turn=single_pass` and `=n_pass` on the same conversations gives the same token-weighted
loss and gradient norm, and the single-pass run passes the visibility ids to the model."""
import json

import pytest

from meta_rfft.config.defaults import model_section, tiny_arch
from meta_rfft.data.vocab import CharVocabulary
from meta_rfft.multiturn import token_layout as layout
from meta_rfft.multiturn.conversation import write_jsonl
from meta_rfft.multiturn.generate import generate
from meta_rfft.tasks import registry
from meta_rfft.train import trainer
from meta_rfft.train.config import base_config


def config_for(method, path):
  c = base_config()
  c.model = model_section(**tiny_arch(CharVocabulary().vocab_size, hidden_size=32, layers=2, heads=4,
                                      kv_heads=2, intermediate_size=64))
  c.data.vocab = "char"
  c.data.seq_len = 1024
  c.data.multi_turn = method
  c.data.conversations = str(path)
  c.train.batch_size = 8
  c.train.steps = 1
  c.eval.every = 0
  c.checkpoint.async_save = False
  c.log_every = 1
  return c


@pytest.fixture(scope="module")
def conversations_file(tmp_path_factory):
  task = registry.get_task("lc_258")
  path = tmp_path_factory.mktemp("mt") / "convs.jsonl"
  write_jsonl(generate(task, [1, 2], 3, [1], seed=2), path)
  return path


def test_one_training_step_agrees(conversations_file, tmp_path):
  runs = {}
  for method in ("single_pass", "n_pass"):
    config = config_for(method, conversations_file)
    result = trainer.train(config, str(tmp_path / method))
    assert config.train.visibility_rule == (layout.RULE_NAME if method == "single_pass" else "")
    with open(tmp_path / method / "metrics.jsonl") as f:
      runs[method] = [json.loads(line) for line in f][-1]
    assert result.losses[1] == pytest.approx(runs[method]["loss"], rel=1e-6)
  sp, np_ = runs["single_pass"], runs["n_pass"]
  assert sp["target_tokens"] == np_["target_tokens"] > 0  # the whole set in one step, for both methods
  assert sp["loss"] == pytest.approx(np_["loss"], rel=1e-5)
  assert sp["grad_norm"] == pytest.approx(np_["grad_norm"], rel=1e-4)


def test_wrong_visibility_rule_is_an_error(conversations_file, tmp_path):
  config = config_for("single_pass", conversations_file)
  config.train.visibility_rule = "causal"
  with pytest.raises(ValueError, match="config.train.visibility_rule"):
    trainer.train(config, str(tmp_path / "bad"))
