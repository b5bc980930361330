"""Rotary position embedding, with the frequency scalings of the supported families.

Frequencies are computed in float32 the way transformers computes them, so converted checkpoints match HF
logits; positions are explicit per token (packing and single-pass layouts need non-contiguous positions).
"""
from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from meta_rfft.model.config import RopeConfig


def inverse_frequencies(rope: RopeConfig, head_dim: int) -> np.ndarray:
  exponents = np.arange(0, head_dim, 2, dtype=np.int64).astype(np.float32) / np.float32(head_dim)
  inv_freq = (np.float32(1.0) / (np.float32(rope.theta) ** exponents)).astype(np.float32)
  if rope.rope_type == "linear":
    inv_freq = inv_freq / np.float32(rope.factor)
  elif rope.rope_type == "llama3":
    inv_freq = _llama3_scaling(inv_freq, rope)
  return inv_freq.astype(np.float32)


def _llama3_scaling(inv_freq: np.ndarray, rope: RopeConfig) -> np.ndarray:
  # Long wavelengths are slowed by `factor`, short ones kept, the band between interpolated smoothly.
  old_len = rope.original_max_position_embeddings
  low_freq_wavelen = old_len / rope.low_freq_factor
  high_freq_wavelen = old_len / rope.high_freq_factor
  wavelen = 2 * math.pi / inv_freq
  scaled = np.where(wavelen > low_freq_wavelen, inv_freq / rope.factor, inv_freq)
  smooth = (old_len / wavelen - rope.low_freq_factor) / (rope.high_freq_factor - rope.low_freq_factor)
  smoothed = (1 - smooth) * scaled / rope.factor + smooth * scaled
  is_medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
  return np.where(is_medium, smoothed, scaled).astype(np.float32)


def apply_rope(x: jnp.ndarray, positions: jnp.ndarray, inv_freq) -> jnp.ndarray:
  """Rotates x [B, L, H, D] by positions [B, L] (the half-split layout HF uses)."""
  freqs = positions.astype(jnp.float32)[..., None] * jnp.asarray(inv_freq, jnp.float32)[None, None, :]
  angles = jnp.concatenate([freqs, freqs], axis=-1)[:, :, None, :]
  cos, sin = jnp.cos(angles).astype(x.dtype), jnp.sin(angles).astype(x.dtype)
  half = x.shape[-1] // 2
  rotated = jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)
  return x * cos + rotated * sin
