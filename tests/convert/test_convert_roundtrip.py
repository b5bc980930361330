"""HF -> ours -> HF for every family: logits, exact tensors, transformers loading and greedy generation."""
import json
import os

import jax
import numpy as np
import pytest
import torch
import transformers
from convert_helpers import VARIANTS, hf_logits, random_model, save_hf, state_dict_np, tokens
from flax import nnx

from meta_rfft.convert import hf_to_orbax, load_model, orbax_to_hf
from meta_rfft.model.config import from_hf_config
from meta_rfft.sharding.mesh import make_mesh
from meta_rfft.sharding.rules import DEFAULT_RULES


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def converted(request, tmp_path_factory):
  """One conversion per variant, both ways, reused by every test below."""
  root = tmp_path_factory.mktemp(request.param)
  model = random_model(request.param)
  hf_dir = save_hf(model, str(root / "hf"))
  ckpt = hf_to_orbax(hf_dir, str(root / "ckpt"))
  exported = orbax_to_hf(ckpt, str(root / "exported"))
  return dict(variant=request.param, model=model, hf_dir=hf_dir, ckpt=ckpt, exported=exported)


def test_logits_match_transformers(converted):
  # Sharded over fsdp x tensor on the 8 fake CPU devices: loading places each param on its own sharding.
  mesh = make_mesh((1, 4, 2))
  ours = load_model(converted["ckpt"], mesh, DEFAULT_RULES)
  assert ours.config == from_hf_config(converted["model"].config.to_dict(), param_dtype="float32")
  kernel = ours.layers.mlp.gate_proj.kernel[...]
  assert kernel.sharding.spec == jax.sharding.PartitionSpec(None, "fsdp", "tensor")
  toks = tokens()
  got = np.asarray(ours(toks)[0])
  want = hf_logits(converted["model"], toks)
  assert np.abs(want).max() > 1.0, "logits too small for the comparison to mean anything"
  np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
  # The parameter tree is the model's: a head only when untied; q_proj [hidden, heads, head_dim] per layer.
  params = nnx.state(ours, nnx.Param).to_pure_dict()
  assert ("lm_head" in params) == (not converted["model"].config.tie_word_embeddings)
  q = state_dict_np(converted["model"])["model.layers.1.self_attn.q_proj.weight"]
  np.testing.assert_array_equal(np.asarray(params["layers"]["attn"]["q_proj"]["kernel"][1]),
                                q.T.reshape(32, 4, 16))


def test_roundtrip_reproduces_every_tensor(converted):
  back = transformers.AutoModelForCausalLM.from_pretrained(converted["exported"], dtype=torch.float32)
  want, got = state_dict_np(converted["model"]), state_dict_np(back)
  assert sorted(got) == sorted(want)
  for name in want:
    np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_export_generates_like_the_original(converted):
  back = transformers.AutoModelForCausalLM.from_pretrained(converted["exported"]).eval()
  prompt = torch.tensor(tokens(batch=1, length=5, seed=7), dtype=torch.long)
  kw = dict(max_new_tokens=6, min_new_tokens=6, do_sample=False, pad_token_id=0)
  with torch.no_grad():
    want = converted["model"].generate(prompt, **kw)
    got = back.generate(prompt, **kw)
  assert got.shape[1] == prompt.shape[1] + 6
  assert torch.equal(got, want)


def test_export_carries_config_and_tokenizer(converted):
  exported, hf_dir = converted["exported"], converted["hf_dir"]
  with open(os.path.join(exported, "config.json")) as f:
    config = json.load(f)
  with open(os.path.join(hf_dir, "config.json")) as f:
    original = json.load(f)
  assert config["dtype"] == "float32"
  assert {k: v for k, v in config.items() if k not in ("dtype", "torch_dtype")} == \
      {k: v for k, v in original.items() if k not in ("dtype", "torch_dtype")}
  assert os.path.exists(os.path.join(exported, "generation_config.json"))
  for name in ("tokenizer.json", "tokenizer_config.json"):
    with open(os.path.join(exported, name), "rb") as a, open(os.path.join(hf_dir, name), "rb") as b:
      assert a.read() == b.read(), name
  tok = transformers.PreTrainedTokenizerFast.from_pretrained(exported)
  assert tok("w5 w7")["input_ids"] == [5, 7]
  # The converted checkpoint carries them too (the trainer and evaluation read them from CKPT/hf).
  assert os.path.exists(os.path.join(converted["ckpt"], "hf", "tokenizer.json"))
  with open(os.path.join(converted["ckpt"], "meta_rfft.json")) as f:
    assert json.load(f)["format"] == "meta_rfft.converted"

