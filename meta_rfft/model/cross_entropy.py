"""Per-token cross-entropy with a hand-written gradient.

The value is the usual log-sum-exp minus the target's logit. Autodiff of that writes the target term's gradient
as a scatter into a zero [tokens, vocab] tensor and then adds it to the softmax term: two extra passes over the
largest activation of a small model, and a scatter, which XLA:CPU runs slowly. The gradient here is the closed
form, softmax(logits) - onehot(target), scaled by the incoming per-token cotangent (the loss weight), in one
elementwise pass.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


@jax.custom_vjp
def token_nll(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """-log softmax(logits)[target] per token: logits float [..., vocab], targets int [...] -> float [...]."""
  return token_nll_value(logits, targets)


def _nll_fwd(logits, targets):
  log_z = jax.nn.logsumexp(logits, axis=-1)
  target_logit = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
  return log_z - target_logit, (logits, log_z, targets)


def _nll_bwd(res, g):
  logits, log_z, targets = res
  onehot = jnp.arange(logits.shape[-1], dtype=targets.dtype) == targets[..., None]
  d_logits = (jnp.exp(logits - log_z[..., None]) - onehot) * g[..., None]
  return d_logits.astype(logits.dtype), None


token_nll.defvjp(_nll_fwd, _nll_bwd)


def token_nll_value(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """token_nll's forward computation, for plain autodiff."""
  return _nll_fwd(logits, targets)[0]
