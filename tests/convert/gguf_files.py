"""Tiny GGUF files written as llama.cpp's converter writes them (Q/K rows permuted, byte-level BPE metadata), from
tiny random HF models: the GGUF import is checked against the HF model they came from and against transformers'
own GGUF loader."""
from __future__ import annotations

import json

import gguf
import numpy as np
import tokenizers
import torch
import transformers

VOCAB = 300  # byte-level BPE: 256 bytes, 3 specials, the rest merges
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
TEXTS = ["Q: add 12345 and 678\nA: 13023", "  two spaces, tabs\tand <|im_end|> specials", "ünïcödé 42 ✓"]
# Shapes whose rows are whole Q8_0/Q4_1 blocks (32 values): hidden 64, intermediate 96, GQA 4/2 heads of 16.
_SHAPES = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=2, head_dim=16, rope_theta=50000.0, max_position_embeddings=64, rms_norm_eps=1e-5,
               bos_token_id=0, eos_token_id=2)
_NAMES = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
          "lm_head.weight": "output.weight", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
          "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
          "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
          "mlp.down_proj": "ffn_down"}


def tokenizer() -> tokenizers.Tokenizer:
  """A byte-level BPE (digits split one by one, as SmolLM2's) trained on a few lines."""
  tok = tokenizers.Tokenizer(tokenizers.models.BPE())
  tok.pre_tokenizer = tokenizers.pre_tokenizers.Sequence([
      tokenizers.pre_tokenizers.Digits(individual_digits=True),
      tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)])
  tok.decoder = tokenizers.decoders.ByteLevel()
  trainer = tokenizers.trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=SPECIALS,
                                           initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
  corpus = ("Question: what is the sum of these numbers? The answer follows the rule, step by step, until "
            "every digit is added and the carry is written down. Then we stop and report it.")
  tok.train_from_iterator([corpus] * 20, trainer)
  assert tok.get_vocab_size() == VOCAB, tok.get_vocab_size()
  return tok


def random_model(family: str = "llama", seed: int = 0) -> transformers.PreTrainedModel:
  torch.manual_seed(seed)
  config = (transformers.LlamaConfig(**_SHAPES, tie_word_embeddings=False) if family == "llama" else
            transformers.Qwen2Config(**_SHAPES, tie_word_embeddings=True))
  model = transformers.AutoModelForCausalLM.from_config(config).eval()
  with torch.no_grad():
    for name, p in model.named_parameters():
      p.copy_(1.0 + 0.1 * torch.randn_like(p) if "norm" in name else 0.3 * torch.randn_like(p))
  return model


def _permute(w: np.ndarray, heads: int) -> np.ndarray:
  """llama.cpp's convert_hf_to_gguf.py permutation of a Llama query/key weight: each head's two RoPE halves
  interleaved row by row."""
  return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _gguf_name(hf_name: str) -> str:
  if hf_name in _NAMES:
    return _NAMES[hf_name]
  _, _, i, *rest = hf_name.split(".")  # model.layers.{i}.<module>.weight|bias
  module, kind = ".".join(rest[:-1]), rest[-1]
  return f"blk.{i}.{_NAMES[module]}.{kind}"


def write(model, path: str, *, qtype=gguf.GGMLQuantizationType.F32, arch: str | None = None,
          tokenizer_model: str = "gpt2", extra_tensor: tuple[str, np.ndarray] | None = None) -> str:
  """Writes `model` as llama.cpp does: 2-D weights quantized to `qtype`, norms and biases float32."""
  cfg = model.config
  arch = arch or cfg.model_type
  w = gguf.GGUFWriter(path, arch)
  w.add_block_count(cfg.num_hidden_layers)
  w.add_context_length(cfg.max_position_embeddings)
  w.add_embedding_length(cfg.hidden_size)
  w.add_feed_forward_length(cfg.intermediate_size)
  w.add_head_count(cfg.num_attention_heads)
  w.add_head_count_kv(cfg.num_key_value_heads)
  w.add_key_length(cfg.head_dim)
  w.add_value_length(cfg.head_dim)
  w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
  w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])  # transformers 5 keeps RoPE settings here
  w.add_vocab_size(cfg.vocab_size)
  tok = tokenizer()
  data = tok.to_str()
  model_json = json.loads(data)["model"]
  vocab = sorted(model_json["vocab"].items(), key=lambda kv: kv[1])
  w.add_tokenizer_model(tokenizer_model)
  w.add_tokenizer_pre("smollm")
  w.add_token_list([t for t, _ in vocab])
  w.add_token_types([3 if t in SPECIALS else 1 for t, _ in vocab])
  w.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in model_json["merges"]])
  w.add_bos_token_id(0)
  w.add_eos_token_id(2)
  w.add_pad_token_id(0)
  w.add_add_bos_token(False)
  w.add_chat_template(CHAT_TEMPLATE)
  permuted = arch == "llama"
  for name, p in model.state_dict().items():
    if name == "lm_head.weight" and cfg.tie_word_embeddings:
      continue
    x = p.numpy().astype(np.float32)
    if permuted and name.endswith(("q_proj.weight", "k_proj.weight")):
      x = _permute(x, cfg.num_attention_heads if "q_proj" in name else cfg.num_key_value_heads)
    if x.ndim == 2 and qtype != gguf.GGMLQuantizationType.F32:
      w.add_tensor(_gguf_name(name), gguf.quants.quantize(x, qtype), raw_dtype=qtype)
    else:
      w.add_tensor(_gguf_name(name), x)
  if extra_tensor is not None:
    w.add_tensor(*extra_tensor)
  w.write_header_to_file()
  w.write_kv_data_to_file()
  w.write_tensors_to_file()
  w.close()
  return path
