"""Reading the architecture from HF config.json: every number and constant, both transformers layouts."""
import numpy as np
import pytest
import torch
from transformers import LlamaConfig, MistralConfig, Qwen2Config
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

from meta_rfft.model.config import from_hf_config
from meta_rfft.model.rope import inverse_frequencies

LLAMA3_SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                  "original_max_position_embeddings": 64}


def _small(cls, **kw):
  return cls(vocab_size=50, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=8,
             num_key_value_heads=2, **kw)


def test_llama3_rope_frequencies_match_transformers():
  hf = _small(LlamaConfig, rope_theta=500000.0, head_dim=16, rope_scaling=LLAMA3_SCALING)
  cfg = from_hf_config(hf.to_dict())
  assert cfg.arch.rope.theta == 500000.0 and cfg.arch.rope.rope_type == "llama3" and cfg.arch.head_dim == 16
  ref, _ = ROPE_INIT_FUNCTIONS["llama3"](hf, torch.device("cpu"))
  np.testing.assert_allclose(inverse_frequencies(cfg.arch.rope, cfg.arch.head_dim), ref.numpy(), rtol=1e-6)


def test_transformers4_layout_is_read():
  hf = {"model_type": "llama", "vocab_size": 50, "hidden_size": 64, "intermediate_size": 96,
        "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 4, "rope_theta": 1e6,
        "rope_scaling": {"type": "linear", "factor": 2.0}, "rms_norm_eps": 1e-5, "tie_word_embeddings": True}
  cfg = from_hf_config(hf)
  assert (cfg.arch.rope.theta, cfg.arch.rope.rope_type, cfg.arch.rope.factor) == (1e6, "linear", 2.0)
  assert cfg.arch.rms_norm_eps == 1e-5 and cfg.arch.tie_word_embeddings and cfg.arch.head_dim == 8 and cfg.arch.num_kv_heads == 4


def test_family_specifics():
  qwen = from_hf_config(_small(Qwen2Config, tie_word_embeddings=True, rope_theta=1e6).to_dict())
  assert qwen.arch.qkv_bias and not qwen.arch.o_bias and qwen.arch.tie_word_embeddings and qwen.arch.rope.theta == 1e6
  mistral = from_hf_config(_small(MistralConfig, sliding_window=32, head_dim=12).to_dict())
  assert mistral.arch.sliding_window == 32 and mistral.arch.head_dim == 12 and not mistral.arch.qkv_bias
  llama = from_hf_config(_small(LlamaConfig, attention_bias=True, mlp_bias=True).to_dict())
  assert llama.arch.qkv_bias and llama.arch.o_bias and llama.arch.mlp_bias


@pytest.mark.parametrize("change,message", [
    ({"model_type": "gpt2"}, "model_type 'gpt2' is not supported"),
    ({"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}, "rope scaling type 'yarn'"),
    ({"num_key_value_heads": 3}, "multiple of num_key_value_heads"),
])
def test_unsupported_configs_are_named(change, message):
  hf = _small(LlamaConfig).to_dict()
  hf.pop("rope_parameters", None)
  hf.update(change)
  with pytest.raises(ValueError, match=message):
    from_hf_config(hf)
