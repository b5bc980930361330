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

SUPPORTED_MODEL_TYPES = ("llama", "qwen2", "mistral")
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

  @property
  def num_params(self) -> int:
    """Parameter count (embedding and head included), for FLOP and memory arithmetic."""
    e, f, n, k, d = self.hidden_size, self.intermediate_size, self.num_heads, self.num_kv_heads, self.head_dim
    attn = e * n * d * 2 + e * k * d * 2 + (n * d + 2 * k * d if self.qkv_bias else 0)
    mlp = 3 * e * f
    per_layer = attn + mlp + 2 * e
    head = 0 if self.tie_word_embeddings else self.vocab_size * e
    return self.num_layers * per_layer + self.vocab_size * e + head + e


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


def _rope_from_hf(hf: Mapping[str, Any]) -> RopeConfig:
  params = hf.get("rope_parameters") or {}
  scaling = hf.get("rope_scaling") or {}
  merged = {**scaling, **params}
  theta = merged.get("rope_theta", hf.get("rope_theta", 10000.0))
  rope_type = merged.get("rope_type", merged.get("type", "default")) or "default"
  if rope_type not in SUPPORTED_ROPE_TYPES:
    raise ValueError(
        f"config.json: rope scaling type {rope_type!r} (rope_scaling/rope_parameters) is not supported; "
        f"supported: {SUPPORTED_ROPE_TYPES}")
  kwargs = dict(theta=float(theta), rope_type=rope_type)
  if rope_type in ("linear", "llama3"):
    kwargs["factor"] = float(merged["factor"])
  if rope_type == "llama3":
    kwargs.update(
        low_freq_factor=float(merged["low_freq_factor"]),
        high_freq_factor=float(merged["high_freq_factor"]),
        original_max_position_embeddings=int(merged["original_max_position_embeddings"]))
  return RopeConfig(**kwargs)


def from_hf_config(hf: Mapping[str, Any], **run_options) -> ModelConfig:
  """A ModelConfig: the architecture of the dict of a HF config.json, and RunOptions(**run_options)."""
  return ModelConfig(architecture_from_hf(hf), RunOptions(**run_options))


def architecture_from_hf(hf: Mapping[str, Any]) -> Architecture:
  """The Architecture of the dict of a HF config.json."""
  model_type = hf.get("model_type")
  if model_type not in SUPPORTED_MODEL_TYPES:
    raise ValueError(f"config.json: model_type {model_type!r} is not supported; supported: {SUPPORTED_MODEL_TYPES}")
  required = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")
  missing = [k for k in required if k not in hf]
  if missing:
    raise ValueError(f"config.json: missing required keys {missing}")
  num_heads = int(hf["num_attention_heads"])
  head_dim = hf.get("head_dim") or hf["hidden_size"] // num_heads
  sliding_window = None
  if model_type == "mistral":
    sliding_window = hf.get("sliding_window")
  elif model_type == "qwen2" and hf.get("use_sliding_window"):
    raise ValueError("config.json: qwen2 with use_sliding_window=true (per-layer windows) is not supported")
  if model_type == "qwen2":
    qkv_bias, o_bias, mlp_bias = True, False, False
  else:
    qkv_bias = o_bias = bool(hf.get("attention_bias", False))
    mlp_bias = bool(hf.get("mlp_bias", False))
  return Architecture(
      model_type=model_type,
      vocab_size=int(hf["vocab_size"]),
      hidden_size=int(hf["hidden_size"]),
      intermediate_size=int(hf["intermediate_size"]),
      num_layers=int(hf["num_hidden_layers"]),
      num_heads=num_heads,
      num_kv_heads=int(hf.get("num_key_value_heads") or num_heads),
      head_dim=int(head_dim),
      rope=_rope_from_hf(hf),
      rms_norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
      tie_word_embeddings=bool(hf.get("tie_word_embeddings", False)),
      qkv_bias=qkv_bias,
      o_bias=o_bias,
      mlp_bias=mlp_bias,
      sliding_window=int(sliding_window) if sliding_window else None,
      max_position_embeddings=int(hf.get("max_position_embeddings", 4096)),
      initializer_range=float(hf.get("initializer_range", 0.02)),
      bos_token_id=hf.get("bos_token_id"),
      eos_token_id=hf.get("eos_token_id"),
  )


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
