"""GGUF import: a tiny model written as llama.cpp writes it comes back with the HF model's logits and tokenizer,
agrees with transformers' own GGUF loader on a quantized file, and bad files are refused by name with nothing
written."""
from __future__ import annotations

import os

import gguf
import numpy as np
import pytest
import torch
import transformers

from meta_rfft import cli
from meta_rfft.convert import load_model
from meta_rfft.convert.__main__ import main as convert_main
from meta_rfft.convert.errors import ConversionError
from meta_rfft.convert.gguf_import import gguf_to_orbax
from meta_rfft.data.vocab import HfTokenizerVocabulary
from meta_rfft.sharding.mesh import make_mesh
from meta_rfft.sharding.rules import DEFAULT_RULES
from tests.convert import gguf_files

Q = gguf.GGMLQuantizationType


def _logits(ckpt: str, toks: np.ndarray) -> np.ndarray:
  return np.asarray(load_model(ckpt, make_mesh((1, -1, 1)), DEFAULT_RULES)(toks)[0])


def _hf_logits(model, toks: np.ndarray) -> np.ndarray:
  with torch.no_grad():
    return model(torch.tensor(toks, dtype=torch.long)).logits.numpy()


def _rows(seed: int = 3) -> np.ndarray:
  return np.random.default_rng(seed).integers(3, gguf_files.VOCAB, size=(2, 12)).astype(np.int32)


@pytest.mark.parametrize("family", ["llama", "qwen2"])
def test_float32_gguf_has_the_hf_models_logits_and_tokenizer(tmp_path, family):
  # llama: untied, Q/K rows permuted by the writer and undone by the import; qwen2: tied, biased, unpermuted.
  model = gguf_files.random_model(family)
  path = gguf_files.write(model, str(tmp_path / "m.gguf"))
  ckpt = gguf_to_orbax(path, str(tmp_path / "new" / "parents" / "ckpt"))  # missing parents are created
  toks = _rows()
  np.testing.assert_allclose(_logits(ckpt, toks), _hf_logits(model, toks), atol=1e-4, rtol=1e-4)
  ours, want = HfTokenizerVocabulary(os.path.join(ckpt, "hf")), gguf_files.tokenizer()
  for text in gguf_files.TEXTS:
    assert list(ours.encode(text)) == want.encode(text).ids, text
    if "<|" not in text:  # decoding stops at the end-of-turn token, as generation does
      assert ours.decode(list(ours.encode(text))) == text
  hf = transformers.AutoTokenizer.from_pretrained(os.path.join(ckpt, "hf"))
  assert hf.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True) == \
      "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


@pytest.mark.parametrize("qtype", [Q.Q8_0, Q.Q4_1])
def test_quantized_gguf_matches_transformers_gguf_loader(tmp_path, qtype):
  path = gguf_files.write(gguf_files.random_model("llama", seed=1), str(tmp_path / "m.gguf"), qtype=qtype)
  ckpt = gguf_to_orbax(path, str(tmp_path / "ckpt"))
  theirs = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path), gguf_file="m.gguf",
                                                              dtype=torch.float32).eval()
  toks = _rows(4)
  np.testing.assert_allclose(_logits(ckpt, toks), _hf_logits(theirs, toks), atol=1e-4, rtol=1e-4)
  their_tok = transformers.AutoTokenizer.from_pretrained(str(tmp_path), gguf_file="m.gguf")
  ours = HfTokenizerVocabulary(os.path.join(ckpt, "hf"))
  for text in gguf_files.TEXTS:
    assert list(ours.encode(text)) == their_tok(text, add_special_tokens=False)["input_ids"], text


@pytest.mark.parametrize("kwargs, message", [
    (dict(arch="gemma"), "general.architecture 'gemma' is not supported"),
    (dict(tokenizer_model="llama"), "tokenizer.ggml.model 'llama' is not supported"),
    (dict(extra_tensor=("blk.0.attn_q.weight_f64", np.zeros((4, 4), np.float64))), "blk.0.attn_q.weight_f64"),
    (dict(extra_tensor=("blk.0.extra.weight", np.zeros((4, 4), np.float32))), "tensor blk.0.extra.weight"),
])
def test_unsupported_gguf_is_refused_by_name_with_nothing_written(tmp_path, kwargs, message):
  path = gguf_files.write(gguf_files.random_model("llama"), str(tmp_path / "m.gguf"), **kwargs)
  out = tmp_path / "out" / "ckpt"
  with pytest.raises(ConversionError, match=message):
    gguf_to_orbax(path, str(out))
  assert not out.exists()


def test_unreadable_gguf_is_refused_by_the_cli(tmp_path, capsys):
  path = gguf_files.write(gguf_files.random_model("llama"), str(tmp_path / "m.gguf"))
  with open(path, "rb") as f:
    head = f.read(4000)
  truncated = tmp_path / "truncated.gguf"
  truncated.write_bytes(head)
  assert convert_main(["gguf_to_orbax", "--gguf", str(truncated), "--out", str(tmp_path / "c")]) == cli.EXIT_BAD_INPUT
  assert "truncated.gguf: not a readable GGUF file" in capsys.readouterr().err
  assert not (tmp_path / "c").exists()
  assert convert_main(["gguf_to_orbax", "--gguf", str(tmp_path / "none.gguf"), "--out", str(tmp_path / "c")]) == cli.EXIT_BAD_INPUT
  assert "none.gguf: no such file" in capsys.readouterr().err
