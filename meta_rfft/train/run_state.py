"""Everything the loop needs besides data: the model parts, optimizer, shardings, jitted steps, and the state.

The train state is a dict {"params": trainable pure dict, "opt_state": optax state, "step": int32}; `frozen`
(the base weights under LoRA/PiSSA, {} for full fine-tuning) is passed to the step beside it, never donated.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from meta_rfft.model.config import ModelConfig
from meta_rfft.sharding.rules import Rules
from meta_rfft.train import model_init, optimizer, step as step_lib


@dataclasses.dataclass
class Setup:
  parts: model_init.ModelParts
  tx: optax.GradientTransformation
  lr_schedule: optax.Schedule
  fns: step_lib.StepFunctions
  trainable_abstract: dict
  frozen_abstract: dict
  opt_abstract: Any
  opt_shardings: Any
  global_batch: int
  seq_len: int

  @property
  def n_trainable(self) -> int:
    return sum(int(a.size) for a in jax.tree.leaves(self.trainable_abstract))

  def abstract_state(self) -> dict:
    return {"params": self.trainable_abstract, "opt_state": self.opt_abstract,
            "step": jax.ShapeDtypeStruct((), jnp.int32, sharding=model_init.replicated(self.parts.mesh))}


def build(config, model_cfg: ModelConfig, mesh: Mesh, rules: Rules, *, global_batch: int,
          seq_len: int) -> Setup:
  seed = int(config.init.seed)
  # The platform the step compiles for is the mesh's: "tpu" for an ahead-of-time TPU compile on a CPU host.
  model_cfg = model_cfg.replace(platform=mesh.devices.flat[0].platform)
  parts = model_init.build(model_cfg, config.adapter, mesh, rules, seed)
  tx, lr_schedule = optimizer.make(config.optim, int(config.train.steps))
  trainable_abstract = parts.abstract_adapters if parts.uses_adapters else parts.abstract_params
  frozen_abstract = parts.abstract_params if parts.uses_adapters else {}
  replicated = model_init.replicated(mesh)
  trainable_shardings = model_init.shardings_of(trainable_abstract)
  opt_abstract = jax.eval_shape(tx.init, trainable_abstract)
  # Adam's moments take their parameter's sharding; counters are replicated.
  opt_shardings = optax.tree_map_params(tx, lambda _, s: s, opt_abstract, trainable_shardings,
                                        transform_non_params=lambda _: replicated)
  opt_abstract = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), opt_abstract,
                              opt_shardings)
  state_shardings = {"params": trainable_shardings, "opt_state": opt_shardings, "step": replicated}
  fns = step_lib.build(parts.graphdef, tx, lr_schedule, mesh=mesh, rules=rules, state_shardings=state_shardings,
                       frozen_shardings=model_init.shardings_of(frozen_abstract), global_batch=global_batch,
                       seq_len=seq_len, micro_batches=int(config.train.micro_batches),
                       adapters=parts.uses_adapters, visibility_rule=config.train.visibility_rule or None)
  return Setup(parts, tx, lr_schedule, fns, trainable_abstract, frozen_abstract, opt_abstract, opt_shardings,
               global_batch, seq_len)


def initial_weights(setup: Setup, config, init_source=None) -> tuple[dict, dict]:
  """(base params, adapters) of a fresh run: the resolved `config.init.checkpoint` (a meta_rfft.convert.Source)
  if given, else random init; adapters (if any) freshly initialised (LoRA) or split off the base weights
  (PiSSA)."""
  seed = int(config.init.seed)
  if init_source is not None:
    params = model_init.converted_params(setup.parts, init_source)
  else:
    params = model_init.random_params(setup.parts, seed)
  return model_init.fresh_adapters(setup.parts, params, seed)


def make_state(setup: Setup, params: dict, adapters: dict, opt_state=None, step: int = 0) -> tuple[dict, dict]:
  """(train state, frozen) from weights; a fresh optimizer state unless one is given (resume)."""
  trainable, frozen = (adapters, params) if setup.parts.uses_adapters else (params, {})
  if opt_state is None:
    opt_state = jax.jit(setup.tx.init, out_shardings=setup.opt_shardings)(trainable)
  step_arr = jax.device_put(jnp.int32(step), model_init.replicated(setup.parts.mesh))
  return {"params": trainable, "opt_state": opt_state, "step": step_arr}, frozen


def checkpoint_items(setup: Setup, state: dict, frozen: dict) -> tuple[dict, dict | None]:
  """(params item, adapters item) as train/checkpointing.py saves them: the base params (the frozen base under
  LoRA/PiSSA) and the adapters (None without)."""
  if setup.parts.uses_adapters:
    return frozen, state["params"]
  return state["params"], None
