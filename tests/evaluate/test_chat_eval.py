"""Evaluation of a checkpoint whose tokenizer carries a chat template: prompts rendered as its chat, decoding
stopped at its end-of-turn token, and the template kept by the export to Hugging Face."""
import json
import os
import shutil

import pytest

from meta_rfft.data import example_codec
from meta_rfft.evaluate import runner
from meta_rfft.evaluate.__main__ import main
from meta_rfft.evaluate.config import default_eval_config
from meta_rfft.evaluate.decode import strip_eos

TASK = "nupa_length_integer"
# Written for this test in a plain "role: text" style over the tokenizer's one special token.
TEMPLATE = ("{% for m in messages %}{% if m.role == 'assistant' %}{{ 'Assistant: ' + m.content + eos_token }}"
            "{% else %}{{ m.role + ': ' + m.content + '\\n' }}{% endif %}{% endfor %}"
            "{% if add_generation_prompt %}{{ 'Assistant: ' }}{% endif %}")


@pytest.fixture(scope="module")
def chat_ckpt(tiny_eval_checkpoint, tmp_path_factory):
  ckpt = str(tmp_path_factory.mktemp("chat") / "ckpt")
  shutil.copytree(tiny_eval_checkpoint, ckpt)
  with open(os.path.join(ckpt, "hf", "chat_template.jinja"), "w") as f:
    f.write(TEMPLATE)
  return ckpt


def _args(ckpt, workdir, *extra):
  return ["--config=configs/eval.py", f"--workdir={workdir}", f"--config.checkpoint={ckpt}",
          f"--config.tasks={TASK}", "--config.lengths=1-2", "--config.samples_per_length=2",
          "--config.batch_size=4", "--config.max_new_tokens=6", "--config.decoding.method=greedy", *extra]


def test_prompts_are_the_chat_and_decoding_stops_at_its_end_of_turn(chat_ckpt, tmp_path):
  run = str(tmp_path / "run")
  assert main(_args(chat_ckpt, run, "--config.system_prompt=Count the digits.")) == 0
  with open(os.path.join(run, "eval", "samples.jsonl")) as f:
    header, *rows = [json.loads(line) for line in f if line.strip()]
  assert header["header"]["chat"]["system"] == "Count the digits."
  cfg = default_eval_config()
  cfg.update(dict(checkpoint=chat_ckpt, batch_size=4, system_prompt="Count the digits."))
  cfg.decoding.method = "greedy"
  session = runner.open_session(cfg, chat_ckpt)
  codec = session.codec
  assert isinstance(codec, example_codec.ChatCodec) and codec.stop_ids == (session.vocab.eos_id,)
  prompts = [r["prompt"] for r in rows]
  ids = codec.batch_prompt_ids(prompts)
  rendered = session.vocab.decode(ids[0])
  assert rendered.startswith("system: Count the digits.\nuser: ") and rendered.endswith("\nAssistant: ")
  outs = session.decoder.decode_batch(ids, [6] * len(ids))
  assert [r["output"] for r in rows] == [session.vocab.decode(strip_eos(o, codec.stop_ids)) for o in outs]

  # The same checkpoint evaluated without the template is another evaluation: refused on resume, by name.
  assert main(_args(chat_ckpt, run, "--config.chat_template=none", "--config.system_prompt=")) == 2


def test_export_keeps_the_template(chat_ckpt, tmp_path):
  import transformers
  from meta_rfft.convert import orbax_to_hf
  out = orbax_to_hf(chat_ckpt, str(tmp_path / "exported"))
  codec = runner.eval_codec(default_eval_config(), chat_ckpt, runner.eval_vocabulary("", chat_ckpt,
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
