"""The optimizer: AdamW with global-norm clipping and a warmup + cosine (or constant) learning-rate schedule.

Weight decay applies to matrices only (kernels, embeddings, LM head, adapter factors), not to norm scales or
biases, as is usual for transformers. The optimizer sees only the trainable parameters, so with LoRA/PiSSA the
frozen weights carry no optimizer state.
"""
from __future__ import annotations

from typing import Any, Mapping

import jax
import ml_collections
import optax

SCHEDULES = ("warmup_cosine", "constant")
_DECAYED_LEAVES = ("kernel", "embed", "lm_head", "a", "b")


def default_config() -> ml_collections.ConfigDict:
  """The `optim` block of a run config."""
  c = ml_collections.ConfigDict()
  c.learning_rate = 1e-5  # peak learning rate
  c.schedule = "warmup_cosine"  # warmup_cosine | constant (after warmup)
  c.warmup_steps = 0
  c.final_lr_fraction = 0.1  # warmup_cosine: the rate decays to learning_rate * final_lr_fraction
  c.b1 = 0.9
  c.b2 = 0.999
  c.eps = 1e-8
  c.weight_decay = 0.0
  c.max_grad_norm = 1.0  # global-norm clipping; 0 disables
  return c


def schedule(cfg, total_steps: int) -> optax.Schedule:
  if cfg.schedule not in SCHEDULES:
    raise ValueError(f"config.optim.schedule={cfg.schedule!r} unknown; choose from {SCHEDULES}")
  peak, warmup = float(cfg.learning_rate), int(cfg.warmup_steps)
  if total_steps < 1:
    raise ValueError(f"config.train.steps={total_steps} must be at least 1")
  if warmup < 0 or warmup > total_steps:
    raise ValueError(f"config.optim.warmup_steps={warmup} must lie in [0, train.steps={total_steps}]")
  if cfg.schedule == "constant":
    if warmup == 0:
      return optax.constant_schedule(peak)
    return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), optax.constant_schedule(peak)],
                                [warmup])
  return optax.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=peak, warmup_steps=warmup, decay_steps=max(total_steps, warmup + 1),
      end_value=peak * float(cfg.final_lr_fraction))


def _decay_mask(params: Mapping[str, Any]):
  def leaf_mask(path, _):
    name = getattr(path[-1], "key", getattr(path[-1], "name", None))
    return name in _DECAYED_LEAVES
  return jax.tree_util.tree_map_with_path(leaf_mask, params)


def make(cfg, total_steps: int) -> tuple[optax.GradientTransformation, optax.Schedule]:
  """(optimizer, learning-rate schedule) for `train.steps` = total_steps."""
  lr = schedule(cfg, total_steps)
  parts = []
  if float(cfg.max_grad_norm) > 0:
    parts.append(optax.clip_by_global_norm(float(cfg.max_grad_norm)))
  parts.append(optax.adamw(lr, b1=float(cfg.b1), b2=float(cfg.b2), eps=float(cfg.eps),
                           weight_decay=float(cfg.weight_decay), mask=_decay_mask))
  return optax.chain(*parts), lr
