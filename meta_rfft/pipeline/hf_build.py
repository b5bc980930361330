"""A small Qwen2-architecture Hugging Face model and tokenizer, built locally (no weights can be downloaded).

The tokenizer is a small BPE trained with the `tokenizers` library on task text: digits are always split one
by one (as Qwen2 does; multi-digit tokens would make lengths beyond training look like new words) and the
byte-level alphabet guarantees that every string round-trips. Traces repeat a few phrases ("enter the loop",
variable names), so even a few hundred merges shorten sequences ~3x against characters, which is what makes
CPU training of the demo possible. The model is random-initialised by transformers itself and saved with
`save_pretrained`, exactly like a downloaded checkpoint.
"""
from __future__ import annotations

import os
from typing import Iterable

EOS_TOKEN = "<|endoftext|>"


MERGES = ("free", "words")


def train_tokenizer(texts: Iterable[str], out_dir: str, vocab_size: int = 512, merges: str = "free") -> int:
  """Trains and saves tokenizer.json + tokenizer_config.json into `out_dir`; returns the vocabulary size.

  merges="free": merges may cross spaces, newlines and punctuation (a whole recited line of a rule can become
  one token: the shortest sequences). "words": GPT-2's pre-tokenizing split first (words, runs of
  punctuation, whitespace), as real tokenizers do, so tasks share the tokens of the words they share."""
  import tokenizers
  import transformers  # the test extra (torch, transformers): only locally built models need it
  from tokenizers import decoders, models, pre_tokenizers, trainers

  if vocab_size < 300:
    raise ValueError(f"tokenizer vocab_size {vocab_size} is too small: the byte alphabet alone needs 256 + 1")
  if merges not in MERGES:
    raise ValueError(f"tokenizer merges={merges!r} unknown; choose from {MERGES}")
  tok = tokenizers.Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.Sequence([
      pre_tokenizers.Digits(individual_digits=True),
      pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=merges == "words")])
  tok.decoder = decoders.ByteLevel()
  trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS_TOKEN],
                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
  tok.train_from_iterator(texts, trainer=trainer)
  fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS_TOKEN, pad_token=EOS_TOKEN)
  os.makedirs(out_dir, exist_ok=True)
  fast.save_pretrained(out_dir)
  return tok.get_vocab_size(with_added_tokens=True)


def build_qwen2(out_dir: str, *, vocab_size: int, eos_token_id: int, hidden_size: int = 128,
                num_layers: int = 4, num_heads: int = 4, num_kv_heads: int = 2, intermediate_size: int = 384,
                max_position_embeddings: int = 4096, seed: int = 0, init_std: float | None = None,
                rope_theta: float = 10000.0) -> str:
  """Saves a random-initialised Qwen2ForCausalLM (float32, tied embeddings) into `out_dir`.

  `init_std` overrides the initialiser's std for every weight (norms stay near 1): a larger std makes the
  random model's logits peaked, which parity tests need (near-ties would make argmax fragile).
  """
  import torch  # the test extra (torch, transformers): only locally built models need it
  import transformers

  torch.manual_seed(seed)
  config = transformers.Qwen2Config(
      vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=intermediate_size,
      num_hidden_layers=num_layers, num_attention_heads=num_heads, num_key_value_heads=num_kv_heads,
      max_position_embeddings=max_position_embeddings, rope_theta=float(rope_theta), rms_norm_eps=1e-6,
      tie_word_embeddings=True, bos_token_id=None, eos_token_id=eos_token_id, pad_token_id=eos_token_id,
      torch_dtype="float32")
  model = transformers.Qwen2ForCausalLM(config).eval()
  if init_std is not None:
    with torch.no_grad():
      for name, p in model.named_parameters():
        if "norm" in name:
          p.copy_(1.0 + 0.1 * torch.randn_like(p))
        else:
          p.normal_(0.0, init_std)
  model.save_pretrained(out_dir, safe_serialization=True)
  return out_dir

