"""How a training run records and keeps its prompt rendering: "auto" resolved before WORKDIR/config.json is
written, a resume that would render otherwise refused, and sources with formats of their own kept plain."""
import json
import types

import pytest

import chat_families
from meta_rfft import layouts
from meta_rfft.train import data_source, trainer
from meta_rfft.train.config import base_config, tiny_run


def _config(tmp_path, vocab, **data):
  c = base_config()
  tiny_run(c)
  c.data.update(dict(vocab=vocab, data_dir=str(tmp_path / "tfds"), mixture="nupa_length_integer", seq_len=1024,
                     **data))
  c.data.build.tasks = "nupa_length_integer"
  c.data.build.num_workers = 1
  for split in ("train", "validation", "test"):
    c.data.build.splits[split].heldout.update(dict(lengths="1-2", per_length=2))
  return c


MODEL = types.SimpleNamespace(vocab_size=512, max_position_embeddings=4096)


def test_auto_is_resolved_before_the_config_is_saved(tmp_path):
  folder = chat_families.build("llama3", tmp_path / "llama3")
  chat = _config(tmp_path, str(folder))
  data_source.make(chat, MODEL, host_batch=1)
  assert chat.data.chat_template == "hf"
  plain = _config(tmp_path, "char")
  data_source.make(plain, MODEL, host_batch=1)
  assert plain.data.chat_template == "none"


def test_sources_with_their_own_format_stay_plain(tmp_path):
  recall = _config(tmp_path, "char")
  recall.train.data_source = "recall"
  data_source.make(recall, MODEL, host_batch=1)
  assert recall.data.chat_template == "none"
  multi = _config(tmp_path, "char", chat_template="hf", multi_turn="single_pass")
  with pytest.raises(ValueError, match=r"chat_template='hf' does not apply to config.data.multi_turn"):
    data_source.make(multi, MODEL, host_batch=1)


@pytest.mark.parametrize("saved, now, refused", [
    ({}, {"chat_template": "hf"}, True),  # a run from before chat templates trained plain prompts
    ({}, {"chat_template": "none"}, False),
    ({"chat_template": "hf", "system_prompt": "Be exact."}, {"chat_template": "hf", "system_prompt": ""}, True),
    ({"chat_template": "hf", "system_prompt": "Be exact."}, {"chat_template": "hf", "system_prompt": "Be exact."},
     False),
])
def test_a_resume_keeps_the_prompt_rendering(tmp_path, saved, now, refused):
  path = layouts.Workdir.at(str(tmp_path)).config
  path.write_text(json.dumps({"config": {"data": saved}}))
  config = base_config()
  config.data.update(now)
  if refused:
    with pytest.raises(ValueError, match=r"config.data.\w+=.*but the checkpoints in .* were trained with"):
      trainer._check_same_prompts(config, str(tmp_path))  # pylint: disable=protected-access
  else:
    trainer._check_same_prompts(config, str(tmp_path))  # pylint: disable=protected-access
