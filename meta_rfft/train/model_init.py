"""The trained model as (graphdef, base params, adapters) and its three ways to get weights.

The decoder (with adapter modules attached when LoRA/PiSSA is on) is built abstractly once: that gives the
graph definition used by the step and, for every parameter, a ShapeDtypeStruct carrying its sharding (the
target for initialising, loading and restoring). Weights then come from, in this order of precedence, the run's
own checkpoint (resume, see checkpointing.py), a converted HF checkpoint (`config.init.checkpoint`), or random
initialisation; each lands directly on its sharding. Everything is a pure nested dict from here on.
"""
from __future__ import annotations

import dataclasses

import jax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from meta_rfft.convert.sources import restore_params
from meta_rfft.model import adapters as adapters_lib
from meta_rfft.model.config import ModelConfig
from meta_rfft.model.decoder import Decoder
from meta_rfft.sharding.placement import abstract_with_shardings
from meta_rfft.sharding.rules import Rules


@dataclasses.dataclass
class ModelParts:
  model_cfg: ModelConfig
  adapter_cfg: object
  graphdef: nnx.GraphDef
  abstract_params: dict  # pure dict of ShapeDtypeStruct (with .sharding): the base model's params
  abstract_adapters: dict  # same for the adapter factors ({} for full fine-tuning)
  mesh: Mesh
  rules: Rules

  @property
  def uses_adapters(self) -> bool:
    return bool(self.abstract_adapters)


def shardings_of(abstract: dict) -> dict:
  return jax.tree.map(lambda a: a.sharding, abstract)


def build(model_cfg: ModelConfig, adapter_cfg, mesh: Mesh, rules: Rules, seed: int) -> ModelParts:
  def make():
    return adapters_lib.attach(Decoder(model_cfg, rngs=nnx.Rngs(seed)), adapter_cfg, seed=seed + 1)
  graphdef, abstract = abstract_with_shardings(make, mesh, rules)
  base, ads = adapters_lib.split_params(abstract.to_pure_dict())
  return ModelParts(model_cfg, adapter_cfg, graphdef, base, ads, mesh, rules)


def random_params(parts: ModelParts, seed: int) -> dict:
  """The base model's params from its own initialisers, each created on its sharding."""
  cfg = parts.model_cfg

  def init():
    return nnx.state(Decoder(cfg, rngs=nnx.Rngs(seed)), nnx.Param).to_pure_dict()
  return jax.jit(init, out_shardings=shardings_of(parts.abstract_params))()


def converted_params(parts: ModelParts, src) -> dict:
  """The base params of `config.init.checkpoint`, already resolved to `src` (a meta_rfft.convert.Source: a
  converted checkpoint, or a trainer step whose adapters are folded in), restored straight onto their
  shardings."""
  return restore_params(src, parts.abstract_params)


def fresh_adapters(parts: ModelParts, params: dict, seed: int) -> tuple[dict, dict]:
  """(frozen params, adapters) at the start of training: LoRA's init, or PiSSA's SVD split of `params`."""
  if not parts.uses_adapters:
    return params, {}
  cfg, adapter_cfg = parts.model_cfg, parts.adapter_cfg

  def init(params):
    model = adapters_lib.attach(nnx.eval_shape(lambda: Decoder(cfg, rngs=nnx.Rngs(seed))), adapter_cfg,
                                seed=seed + 1)
    _, lora = adapters_lib.split_params(nnx.state(model, nnx.LoRAParam).to_pure_dict())
    return adapters_lib.init_from_base(params, lora, adapter_cfg)
  out_shardings = (shardings_of(parts.abstract_params), shardings_of(parts.abstract_adapters))
  return jax.jit(init, out_shardings=out_shardings)(params)


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())
