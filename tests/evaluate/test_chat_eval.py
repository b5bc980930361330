"""Evaluation of a checkpoint whose tokenizer carries a chat template: prompts rendered as its chat, decoding
stopped at its end-of-turn token (not its EOS), question-answer sets rendered the same way, and the template kept
by the export to Hugging Face."""
import json
import os

import pytest

import chat_families
from meta_rfft.data import example_codec
from meta_rfft.evaluate import run_settings, session
from meta_rfft.evaluate.__main__ import main
from meta_rfft.evaluate.config import default_eval_config
from meta_rfft.evaluate.decode import strip_eos

TASK = "nupa_length_integer"
SYSTEM = "Count the digits."


@pytest.fixture(scope="module")
def chat_ckpt(tmp_path_factory):
  """A random 2-layer Qwen2 over the Llama-3-style tokenizer (end of turn <|eot_id|>, EOS <|end_of_text|>)."""
  import transformers
  from meta_rfft.convert import hf_to_orbax
  from meta_rfft.pipeline import hf_build
  root = tmp_path_factory.mktemp("chat_ckpt")
  hf_dir = chat_families.build("llama3", root / "hf")
  tok = transformers.PreTrainedTokenizerFast(tokenizer_file=str(hf_dir / "tokenizer.json"))
  hf_build.build_qwen2(str(hf_dir), vocab_size=len(tok), eos_token_id=tok.convert_tokens_to_ids("<|end_of_text|>"),
                       hidden_size=32, num_layers=2, num_heads=4, num_kv_heads=2, intermediate_size=64, init_std=0.2)
  return hf_to_orbax(str(hf_dir), str(root / "ckpt"))


def _args(ckpt, workdir, *extra):
  return ["--config=configs/eval.py", f"--workdir={workdir}", f"--config.checkpoint={ckpt}",
          f"--config.tasks={TASK}", "--config.lengths=1-2", "--config.samples_per_length=2",
          "--config.batch_size=4", "--config.max_new_tokens=6", "--config.decoding.method=greedy", *extra]


def _rows(path):
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def _session(ckpt):
  cfg = default_eval_config()
  cfg.update(dict(checkpoint=ckpt, batch_size=4, system_prompt=SYSTEM))
  cfg.decoding.method = "greedy"
  return session.open_session(cfg, ckpt)


def test_prompts_are_the_chat_and_decoding_stops_at_its_end_of_turn(chat_ckpt, tmp_path):
  run = str(tmp_path / "run")
  assert main(_args(chat_ckpt, run, f"--config.system_prompt={SYSTEM}")) == 0
  header, *rows = _rows(os.path.join(run, "eval", "samples.jsonl"))
  assert header["header"]["chat"]["system"] == SYSTEM
  session = _session(chat_ckpt)
  codec, vocab = session.codec, session.vocab
  assert isinstance(codec, example_codec.ChatCodec)
  assert codec.stop_ids == (vocab.encode("<|eot_id|>")[0], vocab.eos_id) and codec.stop_ids[0] != vocab.eos_id
  ids = codec.batch_prompt_ids([r["prompt"] for r in rows])
  rendered = vocab.decode(ids[0])
  assert rendered.startswith(f"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{SYSTEM}<|eot_id|>"
                             "<|start_header_id|>user<|end_header_id|>\n\n")
  assert rendered.endswith("<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
  outs = session.decoder.decode_batch(ids, [6] * len(ids))
  assert [r["output"] for r in rows] == [vocab.decode(strip_eos(o, codec.stop_ids)) for o in outs]

  # A question-answer set goes through the same rendering.
  qa = tmp_path / "qa.jsonl"
  qa.write_text("".join(json.dumps({"question": q, "answer": "#### 4"}) + "\n" for q in ("How many digits?", "2+2?")))
  assert main(_args(chat_ckpt, run, f"--config.system_prompt={SYSTEM}", f"--config.qa={qa}",
                    "--config.qa_max_new_tokens=5")) == 0
  _, *qa_rows = _rows(os.path.join(run, "eval", "qa", "qa", "samples.jsonl"))
  qa_ids = codec.batch_prompt_ids([r["prompt"] for r in qa_rows])
  outs = session.decoder.decode_batch(qa_ids, [5] * len(qa_ids))
  assert [r["output"] for r in qa_rows] == [vocab.decode(strip_eos(o, codec.stop_ids)) for o in outs]

  # The same checkpoint evaluated without the template is another evaluation: refused on resume, by name.
  assert main(_args(chat_ckpt, run, "--config.chat_template=none")) == 2


def test_export_keeps_the_template(chat_ckpt, tmp_path):
  import transformers
  from meta_rfft.convert import orbax_to_hf
  out = orbax_to_hf(chat_ckpt, str(tmp_path / "exported"))
  codec = run_settings.eval_codec(default_eval_config(), chat_ckpt, run_settings.eval_vocabulary("", chat_ckpt,
                                                                                    os.path.join(chat_ckpt, "hf")))
  chat = example_codec.user_turn("How many digits does 9051 have?")
  # AutoTokenizer picks Qwen2's tokenizer class for this Qwen2 folder, and that class replaces the pre-tokenizer
  # of the locally trained tokenizer.json with Qwen2's own: the rendered chat is compared there, the token ids
  # with the tokenizer.json as written.
  auto = transformers.AutoTokenizer.from_pretrained(out)
  assert auto.apply_chat_template(chat, add_generation_prompt=True, tokenize=False) == codec.render_prompt(chat)
  fast = transformers.PreTrainedTokenizerFast.from_pretrained(out)
  assert list(fast.apply_chat_template(chat, add_generation_prompt=True, return_dict=True)["input_ids"]) == (
      codec.prompt_ids(chat[0]["content"]))


def test_the_template_date_is_the_runs_or_the_resumed_evaluations(tmp_path):
  from meta_rfft.data.vocab import HfTokenizerVocabulary
  vocab = HfTokenizerVocabulary(chat_families.build("llama31", tmp_path / "llama31"))  # writes the year
  run = tmp_path / "run"
  run.mkdir()
  (run / "config.json").write_text(json.dumps({"config": {"data": {"chat_template": "hf",
                                                                   "chat_date": "2024-07-26"}}}))
  cfg = default_eval_config()
  assert run_settings.eval_codec(cfg, str(run), vocab).describe()["date"] == "2024-07-26"  # as the run trained
  cfg.chat_date = "2025-03-01"
  codec = run_settings.eval_codec(cfg, str(run), vocab)
  assert codec.describe()["date"] == "2025-03-01" and '"year": "2025"' in codec.render_prompt(
      example_codec.user_turn("12"))

  # An evaluation resumed on a later day takes the date its samples file began with; a set date is kept.
  samples = tmp_path / "eval" / "samples.jsonl"
  resumed = default_eval_config()
  run_settings.keep_chat_date(resumed, str(samples))  # nothing to resume
  assert resumed.chat_date == ""
  samples.parent.mkdir()
  samples.write_text(json.dumps({"header": {"chat": {"template": "abc", "system": "", "date": "2023-01-02"}}}) + "\n")
  run_settings.keep_chat_date(resumed, str(samples))
  assert run_settings.eval_codec(resumed, str(tmp_path / "converted"), vocab).describe()["date"] == "2023-01-02"
  run_settings.keep_chat_date(cfg, str(samples))
  assert cfg.chat_date == "2025-03-01"
  cfg.chat_date = "July 2025"
  with pytest.raises(ValueError, match=r"config.chat_date must be a date written YYYY-MM-DD"):
    run_settings.eval_codec(cfg, str(run), vocab)
