"""Synthetic logistic-regression sequences, drawn on device, and the curriculum over their size.

Each sequence is a fresh task: w ~ alpha * N(0, I) over the active coordinates, x ~ N(0, I) over the same
coordinates (the rest are zero), y ~ Bernoulli(sigmoid(x . w)). A larger alpha means less label noise.

A batch is a pure function of (seed, step): resuming at a step draws exactly the batches the killed run would
have drawn, so the sampler's checkpointed state is only what identifies the stream (SamplerState).
"""
from __future__ import annotations

import dataclasses
import json
import os

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class Curriculum:
  """Active dimensions and examples per sequence grow in steps every `every` training steps, up to the head's
  input size and maximum number of examples."""
  dims_start: int
  dims_end: int
  dims_step: int
  points_start: int
  points_end: int
  points_step: int
  every: int

  @classmethod
  def from_config(cls, config) -> "Curriculum":
    c, h = config.curriculum, config.head
    cur = cls(int(c.dims_start), int(h.input_dim), int(c.dims_step), int(c.points_start), int(h.max_points),
              int(c.points_step), int(c.every))
    for key, value, low in (("curriculum.dims_start", cur.dims_start, 1), ("curriculum.dims_step", cur.dims_step, 0),
                            ("curriculum.points_start", cur.points_start, 1),
                            ("curriculum.points_step", cur.points_step, 0), ("curriculum.every", cur.every, 1)):
      if value < low:
        raise ValueError(f"config.{key}={value} must be at least {low}")
    if cur.dims_start > cur.dims_end:
      raise ValueError(f"config.curriculum.dims_start={cur.dims_start} exceeds config.head.input_dim={cur.dims_end}")
    if cur.points_start > cur.points_end:
      raise ValueError(f"config.curriculum.points_start={cur.points_start} exceeds "
                       f"config.head.max_points={cur.points_end}")
    return cur

  def at(self, step: int) -> tuple[int, int]:
    """(active dimensions, examples per sequence) for training step `step` (0-based)."""
    stage = int(step) // self.every
    return (min(self.dims_end, self.dims_start + stage * self.dims_step),
            min(self.points_end, self.points_start + stage * self.points_step))


def sample_tasks(key: jax.Array, batch: int, points: int, dim: int, active: int | jax.Array,
                 alpha: float) -> tuple[jax.Array, jax.Array, jax.Array]:
  """(xs [batch, points, dim], ys [batch, points] float32 in {0, 1}, ws [batch, dim]) of `batch` fresh tasks with
  `active` nonzero coordinates."""
  kw, kx, ky = jax.random.split(key, 3)
  mask = (jnp.arange(dim) < active).astype(jnp.float32)
  ws = alpha * jax.random.normal(kw, (batch, dim)) * mask
  xs = jax.random.normal(kx, (batch, points, dim)) * mask
  p = jax.nn.sigmoid(jnp.einsum("bnd,bd->bn", xs, ws))
  ys = jax.random.bernoulli(ky, p).astype(jnp.float32)
  return xs, ys, ws


def batch_key(seed: int, step: int | jax.Array) -> jax.Array:
  return jax.random.fold_in(jax.random.key(int(seed)), step)


@dataclasses.dataclass
class SamplerState:
  """The synthetic stream's identity, saved as the checkpoint's data item (any object with save/restore serves
  meta_rfft.train.checkpointing). Restoring into a sampler of another seed, alpha or curriculum is an error: the
  resumed run would silently train on another stream."""
  seed: int
  alpha: float
  curriculum: Curriculum

  def _describe(self) -> dict:
    return {"seed": self.seed, "alpha": self.alpha, "curriculum": dataclasses.asdict(self.curriculum)}

  def save(self, directory: str) -> None:
    with open(os.path.join(directory, "synthetic.json"), "w") as f:
      json.dump(self._describe(), f, sort_keys=True)

  def restore(self, directory: str) -> None:
    with open(os.path.join(directory, "synthetic.json")) as f:
      stored = json.load(f)
    now = json.loads(json.dumps(self._describe()))
    if stored != now:
      keys = [k for k in now if stored.get(k) != now[k]]
      raise ValueError(f"{directory}: the checkpointed synthetic stream differs from this config in "
                       f"{', '.join(keys)} ({ {k: stored.get(k) for k in keys} } there, "
                       f"{ {k: now[k] for k in keys} } now); set them back or use another workdir")
