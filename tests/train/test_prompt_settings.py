"""How a training run records and keeps its prompt rendering: "auto" resolved before its run record
(WORKDIR/run.json, meta_rfft/data/run_record.py) is written, a resume that would render otherwise refused (an
older run's config.json read in its place), and sources with formats of their own kept plain."""
import json

import chat_families
import pytest

from meta_rfft import layouts
from meta_rfft.config.defaults import tiny_arch
from meta_rfft.data import run_record
from meta_rfft.model.config import from_hf_config
from meta_rfft.train import data_source
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


MODEL = from_hf_config(tiny_arch(512))


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
  old, new = run_record.read(str(tmp_path)), run_record.RunRecord.from_data_config(config.data)
  if refused:
    with pytest.raises(ValueError, match=r"the checkpoints in .* were rendered otherwise: config.data.\w+: .* there, "
                                         r".* now"):
      run_record.check_same_prompts(old, new, str(tmp_path))
  else:
    run_record.check_same_prompts(old, new, str(tmp_path))
  # The record a run writes reads back as itself.
  run_record.write(str(tmp_path), new)
  assert run_record.read(str(tmp_path)) == new


def _year(config, vocab) -> str:
  """The year the Llama-3.1-style template writes into the default system message of a rule-task prompt."""
  from meta_rfft.data.example_codec import codec_of, user_turn
  text = codec_of(config.data, vocab).render_prompt(user_turn("12"))
  return json.loads(text.split("Environment: ", 1)[1].split("<|eot_id|>", 1)[0])["year"]


def test_a_template_date_is_recorded_and_kept_by_a_resume(tmp_path):
  import datetime

  import numpy as np

  from meta_rfft.data.vocab import HfTokenizerVocabulary
  folder = chat_families.build("llama31", tmp_path / "llama31")  # writes the year through strftime_now
  vocab = HfTokenizerVocabulary(folder)
  today = _config(tmp_path, str(folder))
  data_source.make(today, MODEL, host_batch=1)
  assert today.data.chat_date == datetime.date.today().isoformat()  # "" resolved before config.json is written

  # A run trained on 2024-07-26 saves its iterator; a resume on a later day with data.chat_date "" renders the
  # recorded date, so the iterator restores (its saved state names the rendering) and continues the same stream.
  workdir = tmp_path / "run"
  first = _config(tmp_path, str(folder), chat_date="2024-07-26")
  it = data_source.make(first, MODEL, host_batch=1).train
  next(it)
  it.save(workdir / "iterator")
  expected = [next(it) for _ in range(2)]
  layouts.Workdir.at(str(workdir)).config.write_text(json.dumps({"config": json.loads(first.to_json())}))
  resumed = _config(tmp_path, str(folder))
  run_record.keep_date(resumed.data, run_record.read(str(workdir)), str(workdir))
  assert resumed.data.chat_date == "2024-07-26" and _year(resumed, vocab) == "2024"
  again = data_source.make(resumed, MODEL, host_batch=1).train
  again.restore(workdir / "iterator")
  for want in expected:
    got = next(again)
    assert all(np.array_equal(got[k], want[k]) for k in want)
  # Without the recorded date (today's rendering) the saved state is another stream: refused, not mixed.
  if datetime.date.today().isoformat() != "2024-07-26":
    with pytest.raises(ValueError, match=r"saved from the stream .*2024-07-26.* restoring into"):
      data_source.make(_config(tmp_path, str(folder)), MODEL, host_batch=1).train.restore(workdir / "iterator")

  other = _config(tmp_path, str(folder), chat_date="2025-01-01")
  with pytest.raises(ValueError, match=r"config.data.chat_date='2025-01-01', but the checkpoints in .* were "
                                       r"trained with the date '2024-07-26'"):
    run_record.keep_date(other.data, run_record.read(str(workdir)), str(workdir))
  with pytest.raises(ValueError, match=r"config.data.chat_date must be a date written YYYY-MM-DD, got '26 Jul'"):
    data_source.make(_config(tmp_path, str(folder), chat_date="26 Jul"), MODEL, host_batch=1)
