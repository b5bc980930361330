"""Tiny random HF models of every supported family, built locally (nothing is downloaded)."""
from __future__ import annotations

import os

import numpy as np
import tokenizers
import torch
import transformers

VOCAB = 96
# Small, but with GQA (4 query heads, 2 KV heads), head_dim 16 != hidden / heads (8), a non-default RoPE base.
_COMMON = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
               num_attention_heads=4, num_key_value_heads=2, head_dim=16, rope_theta=50000.0,
               max_position_embeddings=64, rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2)

VARIANTS = {
    "llama": lambda: transformers.LlamaConfig(**_COMMON, tie_word_embeddings=False),
    "llama3_rope": lambda: transformers.LlamaConfig(
        **{**_COMMON, "rope_theta": 500000.0}, tie_word_embeddings=False,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 16}),
    "qwen2_tied": lambda: transformers.Qwen2Config(**_COMMON, tie_word_embeddings=True),
    "qwen2_untied": lambda: transformers.Qwen2Config(**_COMMON, tie_word_embeddings=False),
    # Every optional Llama bias (attention_bias, mlp_bias): exercises the remaining rows of the llama table.
    "llama_biases": lambda: transformers.LlamaConfig(**_COMMON, tie_word_embeddings=False,
                                                     attention_bias=True, mlp_bias=True),
    "mistral": lambda: transformers.MistralConfig(**_COMMON, tie_word_embeddings=False, sliding_window=None),
    # A window shorter than the test rows, so positions past it see only the window.
    "mistral_window": lambda: transformers.MistralConfig(**_COMMON, tie_word_embeddings=False, sliding_window=5),
    "qwen3_tied": lambda: transformers.Qwen3Config(**_COMMON, tie_word_embeddings=True),
    "qwen3_untied": lambda: transformers.Qwen3Config(**_COMMON, tie_word_embeddings=False),
    # Sliding layers (window 5, shorter than the test rows) around a full one, each kind with its own RoPE base
    # (linear scaling on the full layer), query_pre_attn_scalar != head_dim, three layers.
    "gemma3": lambda: transformers.Gemma3TextConfig(
        **{**_COMMON, "num_hidden_layers": 3, "rope_theta": 1e6}, rope_local_base_freq=777.0,
        rope_scaling={"rope_type": "linear", "factor": 4.0}, query_pre_attn_scalar=24, sliding_window=5,
        layer_types=["sliding_attention", "full_attention", "sliding_attention"], tie_word_embeddings=True,
        attn_implementation="eager"),
}


def random_model(variant: str, seed: int = 0) -> transformers.PreTrainedModel:
  """A float32 model with weights large enough that logits are far from zero (std ~1-2)."""
  torch.manual_seed(seed)
  model = transformers.AutoModelForCausalLM.from_config(VARIANTS[variant]()).eval()
  offset = model.config.model_type.startswith("gemma")  # Gemma's norms scale by 1 + weight
  with torch.no_grad():
    for name, p in model.named_parameters():
      if "norm" in name:
        p.copy_((0.0 if offset else 1.0) + 0.1 * torch.randn_like(p))
      else:
        p.normal_(0.0, 0.3)
  return model


def save_tokenizer(path: str) -> None:
  """A word-level tokenizer over the model's vocabulary ("<unk>", "<s>", "</s>", "w3" ... "w95")."""
  vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{f"w{i}": i for i in range(3, VOCAB)}}
  tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
  tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
  fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                              unk_token="<unk>")
  fast.save_pretrained(path)


def save_hf(model: transformers.PreTrainedModel, path: str, **kwargs) -> str:
  model.save_pretrained(path, **kwargs)
  save_tokenizer(path)
  return path


def tokens(batch: int = 2, length: int = 12, seed: int = 1) -> np.ndarray:
  return np.random.default_rng(seed).integers(3, VOCAB, size=(batch, length)).astype(np.int32)


def hf_logits(model: transformers.PreTrainedModel, toks: np.ndarray) -> np.ndarray:
  with torch.no_grad():
    return model(torch.tensor(toks, dtype=torch.long)).logits.numpy()


def state_dict_np(model: transformers.PreTrainedModel) -> dict[str, np.ndarray]:
  return {k: v.detach().float().numpy() for k, v in model.state_dict().items()}


def listing(folder: str) -> list[str]:
  return sorted(os.listdir(folder))
