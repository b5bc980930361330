"""The logit checker: our model (JAX) and the HF model (PyTorch, transformers) on the same prompts.

Prompts are the user's texts, tokenized with the HF folder's tokenizer, or random token ids when none are
given. Rows are right-padded to one length (padding marked with segment id 0 /
attention mask 0) and only real positions are compared, so one forward pass of each model suffices.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from meta_rfft.convert.errors import ConversionError
from meta_rfft.convert.sources import load_model, resolve
from meta_rfft.model.config import load_hf_config
from meta_rfft.sharding.mesh import make_mesh
from meta_rfft.sharding.rules import DEFAULT_RULES, use_sharding


@dataclasses.dataclass(frozen=True)
class VerifyResult:
  max_abs_diff: float
  mean_abs_diff: float
  top1_agreement: float
  positions: int
  max_abs_logit: float

  def passed(self, atol: float | None, min_top1: float) -> bool:
    """Top-1 agreement at least `min_top1`, and (`atol` not None) every logit within `atol`."""
    return (atol is None or self.max_abs_diff <= atol) and self.top1_agreement >= min_top1


def _token_rows(hf_dir: str, prompts: Sequence[str] | None, num_random: int, length: int, vocab: int,
                seed: int) -> list[list[int]]:
  if prompts:
    try:
      import transformers  # the test extra (torch, transformers): only `verify` needs it
      tok = transformers.AutoTokenizer.from_pretrained(hf_dir)
    except Exception as e:  # noqa: BLE001 (any tokenizer failure means: this folder cannot tokenize text)
      raise ConversionError(f"{hf_dir}: cannot load the tokenizer to encode --prompts ({e}); "
                            f"use --num_random instead") from e
    rows = [tok(p)["input_ids"] for p in prompts]
    empty = [p for p, r in zip(prompts, rows) if not r]
    if empty:
      raise ConversionError(f"--prompts: {empty[0]!r} tokenizes to nothing")
    return rows
  rng = np.random.default_rng(seed)
  return [list(rng.integers(0, vocab, size=int(rng.integers(max(1, length // 2), length + 1))))
          for _ in range(num_random)]


_SHAPE_KEYS = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
               "num_key_value_heads", "head_dim", "tie_word_embeddings")


def _check_same_architecture(hf_dir: str, hf_config: dict, ckpt: str, src) -> None:
  """A checkpoint converted from another model would fail deep inside the forward pass (or allocate for the
  wrong shapes): compare the architecture keys of the two config.json files first, naming those that differ.
  `src`: the checkpoint `ckpt`, resolved (meta_rfft.convert.sources.resolve)."""
  theirs = src.hf_config()
  differ = [k for k in _SHAPE_KEYS if k in hf_config and k in theirs and hf_config[k] != theirs[k]]
  if differ:
    raise ConversionError(f"--ckpt {ckpt} is not a conversion of --hf_dir {hf_dir}: "
                          + "; ".join(f"{k} {theirs[k]} there, {hf_config[k]} in the HF config" for k in differ))


def verify(hf_dir: str, ckpt: str, *, prompts: Sequence[str] | None = None, num_random: int = 4,
           length: int = 32, seed: int = 0, dtype: str = "float32") -> VerifyResult:
  """Runs both models on the prompts and compares their logits at every real position."""
  import torch  # the test extra (torch, transformers): only `verify` needs it
  import transformers


  if not os.path.exists(os.path.join(hf_dir, "config.json")):
    raise ConversionError(f"--hf_dir {hf_dir}: no config.json")
  hf_config = load_hf_config(hf_dir)
  vocab = int(hf_config["vocab_size"])
  longest = int(hf_config.get("max_position_embeddings") or 0)
  if length < 1 or (longest and length > longest):
    raise ConversionError(f"--length={length}: must lie in [1, {longest or 'any'}] (max_position_embeddings of "
                          f"{hf_dir}/config.json)")
  src = resolve(ckpt)  # once, for the architecture check and the model
  _check_same_architecture(hf_dir, hf_config, ckpt, src)
  rows = _token_rows(hf_dir, prompts, num_random, length, vocab, seed)
  width = max(len(r) for r in rows)
  tokens = np.zeros((len(rows), width), np.int32)
  mask = np.zeros((len(rows), width), np.int32)
  for i, r in enumerate(rows):
    tokens[i, :len(r)], mask[i, :len(r)] = r, 1

  torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
  hf_model = transformers.AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch_dtype).eval()
  with torch.no_grad():
    ref = hf_model(input_ids=torch.tensor(tokens, dtype=torch.long),
                   attention_mask=torch.tensor(mask, dtype=torch.long)).logits.float().numpy()
  del hf_model

  mesh = make_mesh((1, -1, 1))
  model = load_model(src, mesh, DEFAULT_RULES, param_dtype=dtype, dtype=dtype)

  graphdef, state = nnx.split(model)

  @jax.jit
  def forward(state, tokens, segment_ids):
    # Weights are arguments, not closure constants baked into the compiled program.
    with use_sharding(mesh, DEFAULT_RULES):
      return nnx.merge(graphdef, state)(tokens, segment_ids=segment_ids)[0]

  with jax.default_matmul_precision("highest"):
    ours = np.asarray(forward(state, jnp.asarray(tokens), jnp.asarray(mask)))
  real = mask.astype(bool)
  diff = np.abs(ours - ref)[real]
  agree = (ours.argmax(-1) == ref.argmax(-1))[real]
  return VerifyResult(max_abs_diff=float(diff.max()), mean_abs_diff=float(diff.mean()),
                      top1_agreement=float(agree.mean()), positions=int(real.sum()),
                      max_abs_logit=float(np.abs(ref[real]).max()))
