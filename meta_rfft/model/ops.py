"""The decoder's differentiable operations, each with its hand-written backward pass or with plain autodiff.

The hand-written ones (custom_grads.py: the projections, SwiGLU's down projection, RMSNorm; attention_core.py:
attention; cross_entropy.py: the loss) compute what autodiff computes, keeping less for the backward pass and
asking for layouts XLA handles well; each module's docstring says what and why. `ModelConfig.custom_grads`
(config key `model.custom_grads`) chooses between them here and nowhere else, so that a suspected gradient
problem can be checked against plain autodiff of the very same forward pass. `ModelConfig.platform` is passed
to the backward passes that are written per platform.
"""
from __future__ import annotations

import dataclasses

import jax

from meta_rfft.model import attention_core, cross_entropy, custom_grads


@dataclasses.dataclass(frozen=True)
class Ops:
  custom_grads: bool  # the hand-written backward passes, or plain autodiff
  platform: str  # "cpu", "gpu" or "tpu": the one the program compiles for

  @classmethod
  def of(cls, cfg) -> "Ops":
    """The operations a ModelConfig asks for."""
    return cls(custom_grads=bool(cfg.run.custom_grads), platform=cfg.run.platform)

  def contract(self, x: jax.Array, kernel: jax.Array, n_in: int) -> jax.Array:
    """x [..., *in] . kernel [*in, *out] -> [..., *out], accumulated in float32."""
    if self.custom_grads:
      return custom_grads.contract(x, kernel, n_in, self.platform)
    return custom_grads.contract_value(x, kernel, n_in)

  def swiglu_down(self, gate: jax.Array, up: jax.Array, kernel: jax.Array) -> jax.Array:
    """(silu(gate) * up) . kernel."""
    if self.custom_grads:
      return custom_grads.swiglu_down(gate, up, kernel, self.platform)
    return custom_grads.swiglu_down_value(gate, up, kernel)

  def geglu_down(self, gate: jax.Array, up: jax.Array, kernel: jax.Array) -> jax.Array:
    """(gelu_tanh(gate) * up) . kernel."""
    if self.custom_grads:
      return custom_grads.geglu_down(gate, up, kernel, self.platform)
    return custom_grads.geglu_down_value(gate, up, kernel)

  def rms_norm(self, x: jax.Array, scale: jax.Array, eps: float, offset: float = 0.0) -> jax.Array:
    return (custom_grads.rms_norm if self.custom_grads else custom_grads.rms_norm_value)(x, scale, eps, offset)

  def attention(self, q, k, v, mask, scale: float) -> jax.Array:
    """Masked grouped-query softmax attention, q [B, L, K, G, D], k/v [B, S, K, D] -> [B, L, K, G, D]."""
    fn = attention_core.grouped_attention if self.custom_grads else attention_core.grouped_attention_value
    return fn(q, k, v, mask, scale)

  def token_nll(self, logits: jax.Array, targets: jax.Array) -> jax.Array:
    """-log softmax(logits)[target] per token."""
    return (cross_entropy.token_nll if self.custom_grads else cross_entropy.token_nll_value)(logits, targets)
