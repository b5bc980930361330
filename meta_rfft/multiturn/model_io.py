"""What the trainer's loss needs from a multi-turn batch: the model's `visibility=` and per-token log-probs.

`visibility_from_batch(batch)` is the one hook a loss needs: it returns the single-pass Visibility when the
batch carries the per-token ids (single_pass data) and None otherwise (n_pass and ordinary data).
"""
from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp

from meta_rfft.model.visibility import Visibility
from meta_rfft.multiturn import token_layout as layout  # registers the rule


def visibility_from_batch(batch: Mapping[str, jax.Array]) -> Visibility | None:
  present = [k for k in layout.VISIBILITY_KEYS if k in batch]
  if not present:
    return None
  if len(present) != len(layout.VISIBILITY_KEYS):
    raise KeyError(f"batch has {present} but not all of {layout.VISIBILITY_KEYS} "
                   "(the single-pass visibility ids)")
  return Visibility(ids={k: jnp.asarray(batch[k], jnp.int32) for k in layout.VISIBILITY_KEYS},
                    rule=layout.RULE_NAME)


def token_log_probs(model, batch: Mapping[str, jax.Array]) -> jax.Array:
  """log p(target_tokens | context) at every position, float32 [B, L] (padding too; mask with weights)."""
  logits, _ = model(jnp.asarray(batch["input_tokens"]), positions=jnp.asarray(batch["positions"]),
                    segment_ids=jnp.asarray(batch["segment_ids"]), visibility=visibility_from_batch(batch))
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  return jnp.take_along_axis(logp, jnp.asarray(batch["target_tokens"])[..., None], axis=-1)[..., 0]


def weighted_nll(model, batch: Mapping[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
  """(sum of weighted negative log-likelihoods, sum of weights): the token-weighted loss is their ratio."""
  w = jnp.asarray(batch["loss_weights"], jnp.float32)
  return -(token_log_probs(model, batch) * w).sum(), w.sum()
