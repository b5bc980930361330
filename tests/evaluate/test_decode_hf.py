"""Our greedy decoding of a converted checkpoint equals transformers' `generate(do_sample=False)`."""
import numpy as np
import pytest
import torch
import transformers

from meta_rfft.convert import hf_to_orbax, load_model
from meta_rfft.evaluate.decode import GreedyDecoder
from meta_rfft.pipeline import hf_build
from meta_rfft.sharding.mesh import make_mesh
from meta_rfft.sharding.rules import DEFAULT_RULES

VOCAB = 300


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
  root = tmp_path_factory.mktemp("hf_decode")
  hf_dir = str(root / "hf")
  vocab = hf_build.train_tokenizer(["count = 0\nenter the loop\nSo the answer is 12"] * 4, hf_dir, VOCAB)
  hf_build.build_qwen2(hf_dir, vocab_size=vocab, eos_token_id=0, hidden_size=32, num_layers=2, num_heads=4,
                       num_kv_heads=2, intermediate_size=64, max_position_embeddings=128, init_std=0.3)
  ckpt = hf_to_orbax(hf_dir, str(root / "ckpt"))
  return hf_dir, ckpt, vocab


def test_greedy_equals_hf_generate(converted):
  hf_dir, ckpt, vocab = converted
  rng = np.random.default_rng(3)
  prompts = [rng.integers(1, vocab, size=n).tolist() for n in (5, 11, 2, 8)]
  new = 24
  mesh = make_mesh((1, -1, 1))
  model = load_model(ckpt, mesh, DEFAULT_RULES)
  ours = GreedyDecoder(model, eos_ids=0, pad_id=0, batch_size=4, mesh=mesh).decode(prompts, new)

  hf = transformers.AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
  width = max(len(p) for p in prompts)
  ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
  mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
  with torch.no_grad():
    gen = hf.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new, do_sample=False, eos_token_id=0,
                      pad_token_id=0)[:, width:].tolist()
  theirs = []
  for row in gen:
    theirs.append(row[:row.index(0) + 1] if 0 in row else row)
  assert ours == theirs
  assert max(len(o) for o in ours) > 4  # not a trivial immediate-EOS comparison
