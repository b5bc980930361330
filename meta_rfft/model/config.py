"""The decoder's configuration: its architecture, read from a Hugging Face `config.json`, and the run options.

Every dimension and constant comes from the HF config: a hard-coded one (e.g. the RoPE base) would still
load a checkpoint trained with another value, and silently give wrong logits.
Both config layouts are read: transformers 4.x (`rope_theta` + `rope_scaling`) and 5.x (`rope_parameters`).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Mapping

import jax

from meta_rfft import io_paths

SUPPORTED_MODEL_TYPES = ("llama", "qwen2", "qwen3", "mistral", "gemma3_text")
# Families of the same names that this decoder does not implement, and why (refused by name).
REFUSED_MODEL_TYPES = {
    "qwen3_moe": "Qwen3's mixture-of-experts models (an MoE MLP) are not implemented; the dense Qwen3 is",
    "gemma3": "the multimodal Gemma 3 (a vision tower and its projector) is not implemented; convert its text model "
              "(model_type gemma3_text, Gemma3ForCausalLM)",
}
LAYER_TYPES = ("full_attention", "sliding_attention")
# Gemma3TextConfig's defaults (transformers), for config.json files that leave a key out.
_GEMMA3_DEFAULTS = dict(vocab_size=262208, hidden_size=2304, intermediate_size=9216, num_hidden_layers=26,
                        num_attention_heads=8, num_key_value_heads=4, head_dim=256, query_pre_attn_scalar=256,
                        rope_theta=1_000_000.0, rope_local_base_freq=10_000.0, sliding_window=4096,
                        max_position_embeddings=131072, rms_norm_eps=1e-6, tie_word_embeddings=True)
SUPPORTED_ROPE_TYPES = ("default", "linear", "llama3")


@dataclasses.dataclass(frozen=True)
class RopeConfig:
  theta: float
  rope_type: str = "default"
  factor: float = 1.0
  # Llama-3 frequency-dependent scaling.
  low_freq_factor: float = 1.0
  high_freq_factor: float = 4.0
  original_max_position_embeddings: int = 8192


@dataclasses.dataclass(frozen=True)
class Architecture:
  """What a HF `config.json` says about the model: every shape and constant, nothing about how it runs."""

  model_type: str
  vocab_size: int
  hidden_size: int
  intermediate_size: int
  num_layers: int
  num_heads: int
  num_kv_heads: int
  head_dim: int
  rope: RopeConfig
  rms_norm_eps: float = 1e-6
  tie_word_embeddings: bool = False
  qkv_bias: bool = False
  o_bias: bool = False
  mlp_bias: bool = False
  sliding_window: int | None = None
  # Which layers attend within `sliding_window` ("sliding_attention") or to every earlier position
  # ("full_attention"); () = every layer the same: sliding when `sliding_window` is set, else full.
  layer_types: tuple[str, ...] = ()
  # Gemma 3: the RoPE of the sliding layers (its own base), `rope` being the full layers'; None = `rope` for all.
  rope_local: RopeConfig | None = None
  # Qwen3, Gemma 3: RMSNorm over head_dim of each query and key head, before RoPE.
  qk_norm: bool = False
  # Gemma: RMSNorms scale by (offset + weight), weights stored around 0.
  norm_offset: float = 0.0
  # Gemma: a norm after attention and after the MLP too, each before its residual add.
  sandwich_norms: bool = False
  # Gemma: embeddings scaled by sqrt(hidden_size) (the token path only).
  embed_scale: bool = False
  # The MLP's gate activation: "silu" (SwiGLU) or "gelu_tanh" (GeGLU with tanh-approximated GELU).
  mlp_activation: str = "silu"
  # Attention logits scale; None = head_dim ** -0.5 (Gemma: query_pre_attn_scalar ** -0.5).
  attn_scale: float | None = None
  # Gemma: logits = cap * tanh(logits / cap); None = off.
  final_logit_softcap: float | None = None
  max_position_embeddings: int = 4096
  initializer_range: float = 0.02
  bos_token_id: int | None = None
  eos_token_id: int | list[int] | None = None

  def __post_init__(self):
    if self.model_type not in SUPPORTED_MODEL_TYPES:
      raise ValueError(f"model_type {self.model_type!r} is not supported; supported: {SUPPORTED_MODEL_TYPES}")
    if self.num_heads % self.num_kv_heads:
      raise ValueError(
          f"num_attention_heads ({self.num_heads}) must be a multiple of num_key_value_heads "
          f"({self.num_kv_heads})")
    if self.layer_types and len(self.layer_types) != self.num_layers:
      raise ValueError(f"layer_types has {len(self.layer_types)} entries for {self.num_layers} layers")
    unknown = sorted(set(self.layer_types) - set(LAYER_TYPES))
    if unknown:
      raise ValueError(f"layer_types: {unknown} not supported; supported: {LAYER_TYPES}")
    if "sliding_attention" in self.layer_types and not self.sliding_window:
      raise ValueError("layer_types has sliding_attention layers but sliding_window is not set")
    if self.mlp_activation not in ("silu", "gelu_tanh"):
      raise ValueError(f"hidden activation {self.mlp_activation!r} not supported; supported: silu, gelu_tanh")

  def sliding(self, layer: int) -> bool:
    """Whether `layer` attends within the sliding window."""
    if self.layer_types:
      return self.layer_types[layer] == "sliding_attention"
    return self.sliding_window is not None

  @property
  def mixed_layers(self) -> bool:
    """Some layers sliding and others full, or sliding layers with a RoPE of their own."""
    kinds = {self.sliding(i) for i in range(self.num_layers)}
    return len(kinds) > 1 or (True in kinds and self.rope_local is not None)

  @property
  def norm_params(self) -> int:
    """The RMSNorm weights of the model (per layer: 2, Gemma's 4, and the query/key norms; and the final one)."""
    per_layer = (4 if self.sandwich_norms else 2) * self.hidden_size + (2 * self.head_dim if self.qk_norm else 0)
    return self.num_layers * per_layer + self.hidden_size

  @property
  def num_params(self) -> int:
    """Parameter count (embedding and head included), for FLOP and memory arithmetic."""
    e, f, n, k, d = self.hidden_size, self.intermediate_size, self.num_heads, self.num_kv_heads, self.head_dim
    attn = e * n * d * 2 + e * k * d * 2 + (n * d + 2 * k * d if self.qkv_bias else 0)
    mlp = 3 * e * f
    head = 0 if self.tie_word_embeddings else self.vocab_size * e
    return self.num_layers * (attn + mlp) + self.norm_params + self.vocab_size * e + head


@dataclasses.dataclass(frozen=True)
class RunOptions:
  """How a run computes with the architecture; never read from or written to a checkpoint's config.json."""

  param_dtype: str = "float32"
  dtype: str = "float32"
  scan_layers: bool = True
  remat_policy: str = "none"
  # The hand-written backward passes (meta_rfft/model/ops.py), or plain autodiff of the same forward pass.
  custom_grads: bool = True
  # The platform the model's programs compile for ("cpu", "gpu", "tpu"): some backward passes are written per
  # platform. Empty: JAX's default backend. A run sets it from its mesh, which for an ahead-of-time TPU compile
  # on a CPU host is "tpu".
  platform: str = ""

  def __post_init__(self):
    if not self.platform:
      object.__setattr__(self, "platform", jax.default_backend())
    if self.platform not in ("cpu", "gpu", "tpu"):
      raise ValueError(f"model platform must be cpu, gpu or tpu, got {self.platform!r}")
    for name in ("param_dtype", "dtype"):
      if getattr(self, name) not in ("float32", "bfloat16", "float16"):
        raise ValueError(f"model.{name} must be float32, bfloat16 or float16, got {getattr(self, name)!r}")


_ARCH_FIELDS = frozenset(f.name for f in dataclasses.fields(Architecture))
_RUN_FIELDS = frozenset(f.name for f in dataclasses.fields(RunOptions))


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """The architecture (from HF: `cfg.arch.hidden_size`) and the run options (`run_options`: `cfg.run.dtype`), kept
  apart: a checkpoint's config.json gives the first, a run's config the second."""

  arch: Architecture
  run: RunOptions = dataclasses.field(default_factory=RunOptions)

  def replace(self, **kwargs) -> "ModelConfig":
    """A copy with fields of the architecture or of the run options changed."""
    unknown = sorted(set(kwargs) - _ARCH_FIELDS - _RUN_FIELDS)
    if unknown:
      raise TypeError(f"ModelConfig has no fields {unknown}")
    arch = {k: v for k, v in kwargs.items() if k in _ARCH_FIELDS}
    run = {k: v for k, v in kwargs.items() if k in _RUN_FIELDS}
    return ModelConfig(dataclasses.replace(self.arch, **arch) if arch else self.arch,
                       dataclasses.replace(self.run, **run) if run else self.run)


def _rope(params: Mapping[str, Any], fallback_theta: float) -> RopeConfig:
  theta = params.get("rope_theta", fallback_theta)
  rope_type = params.get("rope_type", params.get("type", "default")) or "default"
  if rope_type not in SUPPORTED_ROPE_TYPES:
    raise ValueError(
        f"config.json: rope scaling type {rope_type!r} (rope_scaling/rope_parameters) is not supported; "
        f"supported: {SUPPORTED_ROPE_TYPES}")
  kwargs = dict(theta=float(theta), rope_type=rope_type)
  if rope_type in ("linear", "llama3"):
    kwargs["factor"] = float(params["factor"])
  if rope_type == "llama3":
    kwargs.update(
        low_freq_factor=float(params["low_freq_factor"]),
        high_freq_factor=float(params["high_freq_factor"]),
        original_max_position_embeddings=int(params["original_max_position_embeddings"]))
  return RopeConfig(**kwargs)


def _rope_from_hf(hf: Mapping[str, Any]) -> RopeConfig:
  params = hf.get("rope_parameters") or {}
  scaling = hf.get("rope_scaling") or {}
  return _rope({**scaling, **params}, hf.get("rope_theta", 10000.0))


def _gemma_ropes(hf: Mapping[str, Any]) -> tuple[RopeConfig, RopeConfig]:
  """(full layers' RoPE, sliding layers' RoPE) of a Gemma 3 config.json: transformers 5 writes them nested in
  rope_parameters by layer type; 4.x writes rope_theta (+ rope_scaling, for the full layers only) and
  rope_local_base_freq."""
  params = hf.get("rope_parameters") or {}
  if "full_attention" in params or "sliding_attention" in params:
    return (_rope(params.get("full_attention") or {}, _GEMMA3_DEFAULTS["rope_theta"]),
            _rope(params.get("sliding_attention") or {}, _GEMMA3_DEFAULTS["rope_local_base_freq"]))
  full = _rope({**(hf.get("rope_scaling") or {}), **params}, hf.get("rope_theta", _GEMMA3_DEFAULTS["rope_theta"]))
  local = RopeConfig(theta=float(hf.get("rope_local_base_freq", _GEMMA3_DEFAULTS["rope_local_base_freq"])))
  return full, local


def _layer_types(hf: Mapping[str, Any], num_layers: int) -> tuple[str, ...]:
  """Gemma 3's layer types: config.json's `layer_types`, else every `sliding_window_pattern`-th layer full."""
  if hf.get("layer_types"):
    return tuple(hf["layer_types"])
  pattern = int(hf.get("sliding_window_pattern") or hf.get("_sliding_window_pattern") or 6)
  return tuple("sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(num_layers))


def from_hf_config(hf: Mapping[str, Any], **run_options) -> ModelConfig:
  """A ModelConfig: the architecture of the dict of a HF config.json, and RunOptions(**run_options)."""
  return ModelConfig(architecture_from_hf(hf), RunOptions(**run_options))


def architecture_from_hf(hf: Mapping[str, Any]) -> Architecture:
  """The Architecture of the dict of a HF config.json; a family or an option this decoder does not implement is
  refused by name."""
  model_type = hf.get("model_type")
  if model_type in REFUSED_MODEL_TYPES:
    raise ValueError(f"config.json: model_type {model_type!r}: {REFUSED_MODEL_TYPES[model_type]}")
  if model_type not in SUPPORTED_MODEL_TYPES:
    raise ValueError(f"config.json: model_type {model_type!r} is not supported; supported: {SUPPORTED_MODEL_TYPES}")
  if model_type == "gemma3_text":
    hf = {**_GEMMA3_DEFAULTS, **hf}
  required = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")
  missing = [k for k in required if k not in hf]
  if missing:
    raise ValueError(f"config.json: missing required keys {missing}")
  num_heads, num_layers = int(hf["num_attention_heads"]), int(hf["num_hidden_layers"])
  head_dim = hf.get("head_dim") or hf["hidden_size"] // num_heads
  family = dict(rope=_rope_from_hf(hf), sliding_window=None, qkv_bias=False, o_bias=False, mlp_bias=False)
  if model_type == "mistral":
    family["sliding_window"] = hf.get("sliding_window")
  if model_type in ("qwen2", "qwen3") and hf.get("use_sliding_window"):
    raise ValueError(f"config.json: {model_type} with use_sliding_window=true (per-layer windows) is not supported")
  if model_type == "qwen2":
    family["qkv_bias"] = True
  elif model_type in ("llama", "mistral", "qwen3"):
    family["qkv_bias"] = family["o_bias"] = bool(hf.get("attention_bias", False))
    family["mlp_bias"] = bool(hf.get("mlp_bias", False))
  if model_type == "qwen3":
    family["qk_norm"] = True
  if model_type == "gemma3_text":
    family.update(_gemma3(hf, num_layers))
  return Architecture(
      model_type=model_type,
      vocab_size=int(hf["vocab_size"]),
      hidden_size=int(hf["hidden_size"]),
      intermediate_size=int(hf["intermediate_size"]),
      num_layers=num_layers,
      num_heads=num_heads,
      num_kv_heads=int(hf.get("num_key_value_heads") or num_heads),
      head_dim=int(head_dim),
      rms_norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
      tie_word_embeddings=bool(hf.get("tie_word_embeddings", False)),
      max_position_embeddings=int(hf.get("max_position_embeddings", 4096)),
      initializer_range=float(hf.get("initializer_range", 0.02)),
      bos_token_id=hf.get("bos_token_id"),
      eos_token_id=hf.get("eos_token_id"),
      **{**family, "sliding_window": int(family["sliding_window"]) if family["sliding_window"] else None},
  )


def _gemma3(hf: Mapping[str, Any], num_layers: int) -> dict:
  """What a Gemma 3 text config sets beyond the Llama layout; options it may set that are not implemented are
  refused by name."""
  if hf.get("use_bidirectional_attention"):
    raise ValueError("config.json: gemma3_text with use_bidirectional_attention=true is not supported")
  if hf.get("attn_logit_softcapping") is not None:
    # transformers' Gemma 3 keeps the value but never applies it: refused rather than guessed.
    raise ValueError("config.json: gemma3_text attn_logit_softcapping is not supported")
  activation = hf.get("hidden_activation") or hf.get("hidden_act") or "gelu_pytorch_tanh"
  if activation not in ("gelu_pytorch_tanh", "gelu_tanh"):
    raise ValueError(f"config.json: gemma3_text hidden_activation {activation!r} is not supported (gelu_pytorch_tanh)")
  full, local = _gemma_ropes(hf)
  cap = hf.get("final_logit_softcapping")
  return dict(rope=full, rope_local=local, sliding_window=hf.get("sliding_window"),
              layer_types=_layer_types(hf, num_layers), qk_norm=True, norm_offset=1.0, sandwich_norms=True,
              embed_scale=True, mlp_activation="gelu_tanh",
              attn_scale=float(hf["query_pre_attn_scalar"]) ** -0.5, final_logit_softcap=float(cap) if cap else None,
              qkv_bias=bool(hf.get("attention_bias", False)), o_bias=bool(hf.get("attention_bias", False)))


def load_hf_config(path: str | os.PathLike) -> dict:
  """Reads `config.json` (a file, or the folder holding it), on local disk or an object store (gs://...)."""
  file = io_paths.resolve(path)
  if file.is_dir():
    file = file / "config.json"
  if not file.exists():
    raise FileNotFoundError(f"no HF config at {os.fspath(file)}")
  try:
    config = io_paths.read_json(file)
  except ValueError as e:  # json.JSONDecodeError and bad UTF-8 (UnicodeDecodeError) are both ValueErrors
    raise ValueError(f"{os.fspath(file)} is not valid JSON ({e})") from None
  if not isinstance(config, dict):
    raise ValueError(f"{os.fspath(file)} holds a JSON {type(config).__name__}, not an object of HF config keys")
  return config


def run_options(model_cfg, **overrides) -> RunOptions:
  """The RunOptions of a config's `model` section: the one place they are read from a config. `overrides`: fields
  the caller decides itself (an evaluation: the layer stack as decoding runs it, its mesh's platform, the
  checkpoint's stored dtype where model.param_dtype is "")."""
  fields = dict(param_dtype=model_cfg.param_dtype, dtype=model_cfg.dtype, scan_layers=model_cfg.scan_layers,
                remat_policy=model_cfg.remat_policy, custom_grads=bool(model_cfg.get("custom_grads", True)))
  fields.update(overrides)
  fields["scan_layers"] = bool(fields["scan_layers"])
  return RunOptions(**fields)


def from_run_config(model_cfg, hf_config: Mapping[str, Any] | None = None) -> ModelConfig:
  """The ModelConfig of a run: architecture from `hf_config` (a converted checkpoint's), `model.hf_config`
  or `model.arch`, run options from the `model` config section (`run_options`)."""
  if hf_config is None:
    if model_cfg.get("hf_config"):
      hf_config = load_hf_config(model_cfg.hf_config)
    elif model_cfg.get("arch"):
      hf_config = dict(model_cfg.arch)
    else:
      raise ValueError("config.model: set model.hf_config (a HF config.json) or model.arch (its keys inline)")
  return ModelConfig(architecture_from_hf(hf_config), run_options(model_cfg))
