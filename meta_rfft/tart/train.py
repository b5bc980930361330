"""Training the reasoning head on synthetic logistic regression: `python -m meta_rfft.tart train`.

Sections follow the flow: mesh, model, step, checkpoint, loop. The batch is drawn inside the jitted step from
(seed, step) and split over the mesh's batch axes; parameters follow the sharding rules (replicated under the
default data-parallel mesh). Checkpoints are the trainer's (meta_rfft/train/checkpointing.py): Orbax, atomic,
resumed exactly, with the synthetic stream's identity as the data item.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx
from jax.sharding import NamedSharding

from meta_rfft import distributed, io_paths, layouts
from meta_rfft.config.loader import save_config
from meta_rfft.data import run_record
from meta_rfft.sharding.placement import create_sharded
from meta_rfft.sharding.rules import logical_to_spec, normalize_rules, use_sharding
from meta_rfft.tart.head import ReasoningHead, bce_loss
from meta_rfft.tart.logistic_tasks import Curriculum, SamplerState, batch_key, sample_tasks
from meta_rfft.train.checkpointing import Checkpoints
from meta_rfft.train.metrics import MetricsWriter, Progress

# The config sections that decide what a checkpoint holds and which batches it has seen: a resumed run must
# agree with the run that wrote its checkpoints on all of them.
STREAM_SECTIONS = ("seed", "head", "synthetic", "curriculum", "optim", "train.batch_size")


@dataclasses.dataclass
class HeadState:
  graphdef: Any
  params: dict
  opt_state: Any
  step: int


def optimizer(config) -> optax.GradientTransformation:
  o = config.optim
  lr = float(o.learning_rate)
  if lr <= 0:
    raise ValueError(f"config.optim.learning_rate={lr} must be positive")
  schedule = optax.linear_schedule(0.0, lr, int(o.warmup_steps)) if int(o.warmup_steps) > 0 else lr
  adam = optax.adam(schedule)
  clip = float(o.grad_clip_norm)
  return optax.chain(optax.clip_by_global_norm(clip), adam) if clip > 0 else adam


def build_head(config, mesh, rules) -> tuple[Any, dict]:
  """(graphdef, params as a pure dict placed on the mesh) of a freshly initialised head."""
  platform = mesh.devices.flat[0].platform
  head = create_sharded(lambda: ReasoningHead(config.head, rngs=nnx.Rngs(int(config.seed)), platform=platform),
                        mesh, rules)
  graphdef, state = nnx.split(head)
  return graphdef, state.to_pure_dict()


def opt_shardings(tx, params: dict, mesh) -> Any:
  """Adam's moments take their parameter's sharding; its step counters are replicated over the mesh."""
  replicated = NamedSharding(mesh, jax.sharding.PartitionSpec())
  return optax.tree_map_params(tx, lambda _, s: s, jax.eval_shape(tx.init, params),
                               jax.tree.map(lambda a: a.sharding, params), transform_non_params=lambda _: replicated)


def _abstract(tree) -> Any:
  """The restore target of a tree of arrays (or ShapeDtypeStructs): its shapes, dtypes and shardings."""
  return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding), tree)


def make_train_step(graphdef, tx, config, mesh, rules):
  """step(params, opt_state, step_index, active=, points=) -> (params, opt_state, metrics); params and optimizer
  state donated. One compile per curriculum stage (the sequence length is static)."""
  seed, alpha = int(config.seed), float(config.synthetic.alpha)
  batch, dim = int(config.train.batch_size), int(config.head.input_dim)
  batch_sharding = NamedSharding(mesh, logical_to_spec(("act_batch", None, None), (batch, 1, dim), mesh, rules))
  label_sharding = NamedSharding(mesh, logical_to_spec(("act_batch", None), (batch, 1), mesh, rules))

  @functools.partial(jax.jit, static_argnames=("active", "points"), donate_argnums=(0, 1))
  def step(params, opt_state, step_index, *, active: int, points: int):
    xs, ys, _ = sample_tasks(batch_key(seed, step_index), batch, points, dim, active, alpha)
    xs = jax.lax.with_sharding_constraint(xs, batch_sharding)
    ys = jax.lax.with_sharding_constraint(ys, label_sharding)

    def loss_fn(p):
      with use_sharding(mesh, rules):
        return bce_loss(nnx.merge(graphdef, p), xs, ys)
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, {"loss": loss, "grad_norm": optax.global_norm(grads)}
  return step


def _check_stream(config, workdir: str) -> None:
  """Refuses to resume a WORKDIR whose checkpoints were written under other STREAM_SECTIONS, naming the keys."""
  path = layouts.Workdir.at(workdir).config
  if not path.is_file() or not layouts.Workdir.at(workdir).complete_steps():
    return
  differ = run_record.differences(io_paths.read_json(path).get("config", {}),
                                  json.loads(config.to_json_best_effort()), STREAM_SECTIONS)
  if differ:
    raise ValueError(f"{os.fspath(path)}: its checkpoints were trained with other settings: " + "; ".join(differ)
                     + ". Set them back, or use another workdir")


def train(config: ml_collections.ConfigDict, workdir: str, argv: list[str] | None = None,
          log=print) -> HeadState:
  # ---- mesh ------------------------------------------------------------------------------------------------
  distributed.initialize(config)
  mesh = distributed.global_mesh_from_config(config.mesh)
  rules = normalize_rules(dict(config.sharding.rules))
  workdir = os.fspath(io_paths.resolve(workdir))
  curriculum = Curriculum.from_config(config)
  steps, batch = int(config.train.steps), int(config.train.batch_size)
  if steps < 1 or batch < 1:
    raise ValueError(f"config.train.steps={steps} and config.train.batch_size={batch} must be positive")
  _check_stream(config, workdir)
  log(f"[tart] mesh {distributed.describe(mesh)}; workdir {workdir}")

  # ---- model and optimizer ---------------------------------------------------------------------------------
  graphdef, params = build_head(config, mesh, rules)
  tx = optimizer(config)
  opt_state = jax.jit(tx.init, out_shardings=opt_shardings(tx, params, mesh))(params)
  n_params = sum(int(x.size) for x in jax.tree.leaves(params))
  log(f"[tart] head: {n_params:,} parameters")

  # ---- step ------------------------------------------------------------------------------------------------
  step_fn = make_train_step(graphdef, tx, config, mesh, rules)

  # ---- checkpoint: resume or start ------------------------------------------------------------------------
  sampler = SamplerState(int(config.seed), float(config.synthetic.alpha), curriculum)
  ckpts = Checkpoints(workdir, keep=int(config.train.keep), async_save=bool(config.train.async_save), warn=log)
  restored = ckpts.restore_latest(params=_abstract(params), adapters=None, opt_state=_abstract(opt_state),
                                  iterator=sampler)
  if jax.process_index() == 0:
    save_config(config, workdir, argv)
  start = 0
  if restored is not None:
    params, opt_state, start = restored.params, restored.opt_state, restored.step
    log(f"[tart] resumed from {ckpts.directory}/{start}")

  # ---- loop ------------------------------------------------------------------------------------------------
  metrics = MetricsWriter(workdir, resume_step=start if restored is not None else None)
  progress = Progress(start, steps, int(config.train.log_every))

  def save(step: int) -> None:
    ckpts.save(step, params=params, adapters=None, opt_state=opt_state, iterator=sampler,
               meta={"curriculum": dict(zip(("active_dims", "points"), curriculum.at(max(step - 1, 0))))})
    metrics.sync()

  try:
    window_start, window_steps = time.perf_counter(), 0
    for step in range(start, steps):
      active, points = curriculum.at(step)
      params, opt_state, out = step_fn(params, opt_state, jnp.int32(step), active=active, points=points)
      window_steps += 1
      done = step + 1
      if done % int(config.train.log_every) == 0 or done == steps:
        out = jax.device_get(out)
        elapsed = time.perf_counter() - window_start
        scalars = {"loss": float(out["loss"]), "grad_norm": float(out["grad_norm"]), "active_dims": active,
                   "points": points, "sequences_per_s": window_steps * batch / max(elapsed, 1e-9)}
        metrics.write(done, scalars)
        progress.update(done, scalars)
        window_start, window_steps = time.perf_counter(), 0
      if done % int(config.train.checkpoint_every) == 0 or done == steps:
        save(done)
  finally:
    ckpts.close()
    metrics.close()
  return HeadState(graphdef, params, opt_state, steps)


def load_head(config, workdir: str, mesh, rules) -> tuple[ReasoningHead, int]:
  """The head of WORKDIR's latest checkpoint, and its step; a named error when there is none (checked before
  the checkpoint manager is opened, which would create the folder)."""
  if not layouts.Workdir.at(workdir).complete_steps():
    raise ValueError(f"{workdir} holds no trained head (no complete checkpoint under "
                     f"{os.fspath(layouts.Workdir.at(workdir).checkpoints)}); run `python -m meta_rfft.tart train` "
                     f"with this --workdir first")
  graphdef, params = build_head(config, mesh, rules)
  tx = optimizer(config)
  opt_state = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                           jax.eval_shape(tx.init, params), opt_shardings(tx, params, mesh))
  ckpts = Checkpoints(workdir, keep=0, async_save=False)
  try:
    restored = ckpts.restore_latest(params=_abstract(params), adapters=None, opt_state=_abstract(opt_state),
                                    iterator=SamplerState(int(config.seed), float(config.synthetic.alpha),
                                                          Curriculum.from_config(config)))
  finally:
    ckpts.close()
  return nnx.merge(graphdef, restored.params), restored.step
