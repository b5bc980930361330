"""Which keys each query may attend to, computed on the fly from per-token ids (no L x L mask in the batch).

The base rule is always: same packed segment (segment id > 0), and the key is not after the query in the row.
A `Visibility` adds a named rule on top, evaluated from small per-token integer arrays (for the single-pass
multi-turn layout: the turn and block kind of each token). Rules are registered by name so that the mask is
built inside the jitted model from O(L) data.
"""
from __future__ import annotations

from typing import Callable, Mapping

import jax
import jax.numpy as jnp
from flax import struct

# A rule gets the query ids (each [B, Lq, 1]) and key ids (each [B, 1, Lk]) and returns a bool [B, Lq, Lk].
RuleFn = Callable[[Mapping[str, jax.Array], Mapping[str, jax.Array]], jax.Array]
_RULES: dict[str, RuleFn] = {}


def register_rule(name: str, fn: RuleFn) -> None:
  _RULES[name] = fn


def get_rule(name: str) -> RuleFn:
  if name not in _RULES:
    raise KeyError(f"unknown visibility rule {name!r}; registered: {sorted(_RULES)}")
  return _RULES[name]


@struct.dataclass
class Visibility:
  """A named visibility rule and the per-token ids it reads (each int32 [B, L])."""
  ids: dict[str, jax.Array]
  rule: str = struct.field(pytree_node=False, default="causal")


def base_mask(q_segments: jax.Array, k_segments: jax.Array, q_index: jax.Array, k_index: jax.Array) -> jax.Array:
  """Same non-padding segment and key not after the query. Shapes [B, Lq] / [B, Lk]; index = slot in row."""
  same = (q_segments[:, :, None] == k_segments[:, None, :]) & (k_segments[:, None, :] > 0)
  return same & (k_index[:, None, :] <= q_index[:, :, None])


def attention_mask(q_segments, k_segments, q_index, k_index, *, q_positions=None, k_positions=None,
                   sliding_window: int | None = None, visibility: Visibility | None = None,
                   k_ids: Mapping[str, jax.Array] | None = None) -> jax.Array:
  mask = base_mask(q_segments, k_segments, q_index, k_index)
  if sliding_window is not None:
    mask &= (q_positions[:, :, None] - k_positions[:, None, :]) < sliding_window
  if visibility is not None and visibility.rule != "causal":
    k_ids = visibility.ids if k_ids is None else k_ids
    q = {name: v[:, :, None] for name, v in visibility.ids.items()}
    k = {name: v[:, None, :] for name, v in k_ids.items()}
    mask &= get_rule(visibility.rule)(q, k)
  return mask


register_rule("causal", lambda q, k: jnp.asarray(True))
