"""SmolLM2-135M-Instruct end to end: its GGUF imported gives transformers' logits and tokens, our greedy decoding
through the chat template path writes what transformers' `generate` writes, and two PiSSA steps train, fold and
export to a folder that transformers loads with our logits."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch
import transformers

from meta_rfft.convert import load_model, orbax_to_hf
from meta_rfft.data.vocab import HfTokenizerVocabulary
from meta_rfft.evaluate.config import default_eval_config
from meta_rfft.evaluate.session import open_session
from meta_rfft.sharding.mesh import make_mesh
from meta_rfft.sharding.rules import DEFAULT_RULES

PROMPTS = ["What is 2 + 3?", "Name three colors.", "Reverse the list [4, 1, 7].",
           "Write the word 'cat' backwards."]
NEW_TOKENS = 24
ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.real_model, pytest.mark.heavy]


def _our_logits(ckpt: str, ids: list[int]) -> np.ndarray:
  model = load_model(ckpt, make_mesh((1, -1, 1)), DEFAULT_RULES)
  logits, _ = model(np.asarray([ids], np.int32))
  return np.asarray(logits[0])


def _their_logits(model, ids: list[int]) -> np.ndarray:
  with torch.no_grad():
    return model(torch.tensor([ids])).logits[0].numpy()


def _chat_ids(tokenizer, prompt: str) -> list[int]:
  return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                       tokenize=True, return_dict=False)


def test_gguf_import_has_transformers_logits_and_tokenizer(smollm2_ckpt, smollm2_transformers):
  model, tokenizer = smollm2_transformers
  ours = HfTokenizerVocabulary(os.path.join(smollm2_ckpt, "hf"))
  for text in PROMPTS + ["count = 0\nfor i in range(3):\n  count += i\nSo the answer is [3]"]:
    assert list(ours.encode(text)) == tokenizer(text, add_special_tokens=False)["input_ids"], text
  ids = _chat_ids(tokenizer, PROMPTS[2])
  mine, theirs = _our_logits(smollm2_ckpt, ids), _their_logits(model, ids)
  assert np.abs(mine - theirs).max() < 1e-3
  assert (mine.argmax(-1) == theirs.argmax(-1)).all()


def test_greedy_chat_decoding_writes_what_transformers_generate_writes(smollm2_ckpt, smollm2_transformers):
  model, tokenizer = smollm2_transformers
  cfg = default_eval_config()
  cfg.chat_template, cfg.batch_size = "hf", len(PROMPTS)
  session = open_session(cfg, smollm2_ckpt)
  prompt_ids = session.codec.batch_prompt_ids(PROMPTS)
  assert prompt_ids == [_chat_ids(tokenizer, p) for p in PROMPTS]  # the project's template path renders as HF's
  ours = session.decoder.decode(prompt_ids, NEW_TOKENS)
  end_of_turn = tokenizer.convert_tokens_to_ids("<|im_end|>")
  for prompt, mine in zip(prompt_ids, ours):
    with torch.no_grad():
      row = model.generate(torch.tensor([prompt]), max_new_tokens=NEW_TOKENS, do_sample=False,
                           eos_token_id=end_of_turn, pad_token_id=end_of_turn)[0, len(prompt):].tolist()
    assert mine == row, (tokenizer.decode(mine), tokenizer.decode(row))
  assert sum(len(o) for o in ours) > 2 * len(PROMPTS)  # real answers, not an immediate end of turn


def test_two_pissa_steps_fold_and_export_to_transformers(smollm2_ckpt, tmp_path):
  # The adaptation config's PiSSA rank 8, as a user runs it, on one CPU device: the tests' eight fake devices
  # would share two cores between the collectives of a 135M model's sharded step.
  workdir = str(tmp_path / "run")
  args = ["--config=configs/adapt.py:lc_283", f"--config.init.checkpoint={smollm2_ckpt}",
          "--config.train.data_source=synthetic",  # random tokens: this checks the mechanics, not what is learned
          "--config.data.seq_len=64", "--config.train.batch_size=2", "--config.train.steps=2",
          "--config.model.dtype=float32", "--config.optim.learning_rate=1e-3", "--config.optim.warmup_steps=0",
          "--config.eval.every=0", "--config.checkpoint.every=2", f"--workdir={workdir}"]
  proc = subprocess.run([sys.executable, "-m", "meta_rfft.train", *args], cwd=ROOT, capture_output=True, text=True,
                        env=dict(os.environ, XLA_FLAGS=""), timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  metrics = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  assert [m["step"] for m in metrics if "loss" in m] == [1, 2]
  exported = orbax_to_hf(workdir, str(tmp_path / "hf"))
  theirs = transformers.AutoModelForCausalLM.from_pretrained(exported, dtype=torch.float32).eval()
  ids = list(HfTokenizerVocabulary(exported).encode("So the answer is [1, 2]"))
  trained = _our_logits(workdir, ids)
  np.testing.assert_allclose(_their_logits(theirs, ids), trained, atol=1e-3, rtol=1e-4)
  assert np.abs(trained - _our_logits(smollm2_ckpt, ids)).max() > 1e-3  # the two steps changed the model
