"""One mapping table per model family: HF tensor name -> our parameter path, and how the array is reshaped.

A row names the HF tensor (`{i}` = layer index, for tensors that our tree stacks over layers), our parameter's
dotted path, the HF shape in config symbols, and whether the HF matrix is transposed (HF stores `Linear`
weights as [out, in]; our kernels are [in..., out...]). The HF shape is checked against the HF file; our shape
comes from the model itself (nnx.eval_shape of the Decoder), so a row cannot silently disagree with the model.

The families share most rows; each family's table below is still spelled out as the tuple of row groups it
uses, so reading one table tells the whole story for that family.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from meta_rfft.convert.errors import ConversionError
from meta_rfft.model.config import ModelConfig


@dataclasses.dataclass(frozen=True)
class Row:
  hf: str                     # HF tensor name; "{i}" is the layer index when `stacked`
  ours: str                   # dotted path in nnx.state(model, nnx.Param).to_pure_dict()
  # symbols: V vocab, E hidden, F intermediate, ND heads * head_dim, KD kv_heads * head_dim, D head_dim
  hf_shape: tuple[str, ...]
  transpose: bool = False     # HF [out, in] -> our [in..., out...]
  when: str | None = None     # a ModelConfig predicate (see _PREDICATES); the row exists only when it holds

  @property
  def stacked(self) -> bool:
    return "{i}" in self.hf


# --- row groups -------------------------------------------------------------------------------------------
_L = "model.layers.{i}."

EMBED_AND_NORMS = (
    Row("model.embed_tokens.weight", "embed", ("V", "E")),
    Row("model.norm.weight", "final_norm.scale", ("E",)),
    Row(_L + "input_layernorm.weight", "layers.input_norm.scale", ("E",)),
    Row(_L + "post_attention_layernorm.weight", "layers.post_attention_norm.scale", ("E",)),
)
ATTENTION = (
    Row(_L + "self_attn.q_proj.weight", "layers.attn.q_proj.kernel", ("ND", "E"), transpose=True),
    Row(_L + "self_attn.k_proj.weight", "layers.attn.k_proj.kernel", ("KD", "E"), transpose=True),
    Row(_L + "self_attn.v_proj.weight", "layers.attn.v_proj.kernel", ("KD", "E"), transpose=True),
    Row(_L + "self_attn.o_proj.weight", "layers.attn.o_proj.kernel", ("E", "ND"), transpose=True),
)
MLP = (
    Row(_L + "mlp.gate_proj.weight", "layers.mlp.gate_proj.kernel", ("F", "E"), transpose=True),
    Row(_L + "mlp.up_proj.weight", "layers.mlp.up_proj.kernel", ("F", "E"), transpose=True),
    Row(_L + "mlp.down_proj.weight", "layers.mlp.down_proj.kernel", ("E", "F"), transpose=True),
)
QKV_BIAS = (
    Row(_L + "self_attn.q_proj.bias", "layers.attn.q_proj.bias", ("ND",), when="qkv_bias"),
    Row(_L + "self_attn.k_proj.bias", "layers.attn.k_proj.bias", ("KD",), when="qkv_bias"),
    Row(_L + "self_attn.v_proj.bias", "layers.attn.v_proj.bias", ("KD",), when="qkv_bias"),
)
O_BIAS = (Row(_L + "self_attn.o_proj.bias", "layers.attn.o_proj.bias", ("E",), when="o_bias"),)
MLP_BIAS = (
    Row(_L + "mlp.gate_proj.bias", "layers.mlp.gate_proj.bias", ("F",), when="mlp_bias"),
    Row(_L + "mlp.up_proj.bias", "layers.mlp.up_proj.bias", ("F",), when="mlp_bias"),
    Row(_L + "mlp.down_proj.bias", "layers.mlp.down_proj.bias", ("E",), when="mlp_bias"),
)
LM_HEAD = (Row("lm_head.weight", "lm_head", ("V", "E"), transpose=True, when="untied"),)
QK_NORM = (
    Row(_L + "self_attn.q_norm.weight", "layers.attn.q_norm.scale", ("D",)),
    Row(_L + "self_attn.k_norm.weight", "layers.attn.k_norm.scale", ("D",)),
)
# Gemma's four norms per layer. HF's post_attention_layernorm is Gemma's norm of the attention output (Llama's
# name for the norm before the MLP), and pre_feedforward_layernorm is ours before the MLP.
GEMMA_NORMS = (
    Row("model.embed_tokens.weight", "embed", ("V", "E")),
    Row("model.norm.weight", "final_norm.scale", ("E",)),
    Row(_L + "input_layernorm.weight", "layers.input_norm.scale", ("E",)),
    Row(_L + "post_attention_layernorm.weight", "layers.attn_out_norm.scale", ("E",)),
    Row(_L + "pre_feedforward_layernorm.weight", "layers.post_attention_norm.scale", ("E",)),
    Row(_L + "post_feedforward_layernorm.weight", "layers.mlp_out_norm.scale", ("E",)),
)

# --- the tables -------------------------------------------------------------------------------------------
# llama: `attention_bias` adds q/k/v/o biases, `mlp_bias` the MLP biases (both off in released Llamas).
LLAMA = EMBED_AND_NORMS + ATTENTION + QKV_BIAS + O_BIAS + MLP + MLP_BIAS + LM_HEAD
# qwen2 / qwen2.5: q/k/v always carry a bias, o_proj and the MLP never do; small models tie the embeddings.
QWEN2 = EMBED_AND_NORMS + ATTENTION + QKV_BIAS + MLP + LM_HEAD
# mistral: no biases at all.
MISTRAL = EMBED_AND_NORMS + ATTENTION + MLP + LM_HEAD
# qwen3: no biases unless `attention_bias`; query/key norms; small models tie the embeddings.
QWEN3 = EMBED_AND_NORMS + ATTENTION + QK_NORM + QKV_BIAS + O_BIAS + MLP + LM_HEAD
# gemma3_text: four norms a layer, query/key norms, tied embeddings (a head only if a config unties them).
GEMMA3_TEXT = GEMMA_NORMS + ATTENTION + QK_NORM + QKV_BIAS + O_BIAS + MLP + LM_HEAD

TABLES: dict[str, tuple[Row, ...]] = {"llama": LLAMA, "qwen2": QWEN2, "mistral": MISTRAL, "qwen3": QWEN3,
                                      "gemma3_text": GEMMA3_TEXT}

# HF tensors that carry no weights of their own and are recomputed by both sides (old Llama exports saved the
# RoPE inverse frequencies as a buffer).
IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)

_PREDICATES = {
    "qkv_bias": lambda c: c.arch.qkv_bias,
    "o_bias": lambda c: c.arch.o_bias,
    "mlp_bias": lambda c: c.arch.mlp_bias,
    "untied": lambda c: not c.arch.tie_word_embeddings,
}


def table_for(model_type: str) -> tuple[Row, ...]:
  if model_type not in TABLES:
    raise ConversionError(f"config.json: model_type {model_type!r} is not supported; "
                          f"supported: {sorted(TABLES)}")
  return TABLES[model_type]


def rows_for(cfg: ModelConfig) -> list[Row]:
  """The rows of `cfg`'s family that apply to this configuration."""
  return [r for r in table_for(cfg.arch.model_type) if r.when is None or _PREDICATES[r.when](cfg)]


def hf_shape(row: Row, cfg: ModelConfig) -> tuple[int, ...]:
  dims = {"V": cfg.arch.vocab_size, "E": cfg.arch.hidden_size, "F": cfg.arch.intermediate_size,
          "ND": cfg.arch.num_heads * cfg.arch.head_dim, "KD": cfg.arch.num_kv_heads * cfg.arch.head_dim,
          "D": cfg.arch.head_dim}
  return tuple(dims[s] for s in row.hf_shape)


def hf_names(row: Row, cfg: ModelConfig) -> list[str]:
  """The HF tensor names of a row: one per layer for stacked rows (in layer order), else one."""
  if row.stacked:
    return [row.hf.format(i=i) for i in range(cfg.arch.num_layers)]
  return [row.hf]


def to_ours(x: np.ndarray, row: Row, our_shape: Sequence[int]) -> np.ndarray:
  """One HF tensor -> our layout (`our_shape` is the per-layer shape for stacked rows)."""
  return (x.T if row.transpose else x).reshape(tuple(our_shape))


def to_hf(x: np.ndarray, row: Row, cfg: ModelConfig) -> np.ndarray:
  """One of our (per-layer) arrays -> the HF tensor, exactly inverting `to_ours`."""
  shape = hf_shape(row, cfg)
  if row.transpose:
    return np.ascontiguousarray(x.reshape(shape[::-1]).T)
  return np.ascontiguousarray(x.reshape(shape))


def check_rows_cover(rows: Sequence[Row], our_shapes: dict[str, tuple[int, ...]], cfg: ModelConfig) -> None:
  """Every parameter of the model has exactly one row, and each row's sizes agree with the model."""
  by_ours = {}
  for r in rows:
    if r.ours in by_ours:
      raise ConversionError(f"mapping table {cfg.arch.model_type}: two rows map to {r.ours}")
    by_ours[r.ours] = r
  unmapped = sorted(set(our_shapes) - set(by_ours))
  if unmapped:
    raise ConversionError(f"mapping table {cfg.arch.model_type}: no HF tensor maps to our parameters {unmapped} "
                     f"(a config flag the {cfg.arch.model_type} family does not support?)")
  unknown = sorted(set(by_ours) - set(our_shapes))
  if unknown:
    raise ConversionError(f"mapping table {cfg.arch.model_type}: rows map to parameters the model lacks: "
                          f"{unknown}")
  for path, r in by_ours.items():
    shape = our_shapes[path][1:] if r.stacked else our_shapes[path]
    if math.prod(shape) != math.prod(hf_shape(r, cfg)):
      raise ConversionError(f"mapping table {cfg.arch.model_type}: {r.hf} {hf_shape(r, cfg)} does not fit "
                            f"{path} {shape}")
