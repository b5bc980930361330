"""Putting models on a mesh: every parameter created, or loaded, straight onto its own sharding.

The model is first built abstractly (`nnx.eval_shape`: shapes only, no memory), the sharding of each parameter is
derived from its `logical_axes` metadata and the rules, and the real initialisation runs under `jax.jit` with
those output shardings, so no device ever holds a full copy of a weight that is meant to be split.
"""
from __future__ import annotations

from typing import Callable

import jax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from meta_rfft.sharding.rules import Rules, logical_to_spec


def logical_axes_of(variable) -> tuple | None:
  meta = variable.get_metadata() if hasattr(variable, "get_metadata") else {}
  return meta.get("logical_axes")


def state_shardings(state: nnx.State, mesh: Mesh, rules: Rules) -> nnx.State:
  """A tree like `state` with a NamedSharding per array (replicated where no logical axes are recorded)."""
  def one(v):
    value = v.get_value() if hasattr(v, "get_value") else v
    axes = logical_axes_of(v)
    spec = PartitionSpec() if axes is None else logical_to_spec(axes, value.shape, mesh, rules)
    return NamedSharding(mesh, spec)
  return jax.tree.map(one, state, is_leaf=lambda x: isinstance(x, nnx.Variable))


def create_sharded(make_module: Callable[[], nnx.Module], mesh: Mesh, rules: Rules) -> nnx.Module:
  """Builds `make_module()` with each parameter materialised directly on its sharding."""
  abstract = nnx.eval_shape(make_module)
  graphdef, abstract_state = nnx.split(abstract)
  shardings = state_shardings(abstract_state, mesh, rules)

  @jax.jit
  def init():
    return nnx.split(make_module())[1]

  state = jax.jit(init, out_shardings=shardings)()
  return nnx.merge(graphdef, state)


def abstract_with_shardings(make_module: Callable[[], nnx.Module], mesh: Mesh, rules: Rules):
  """(graphdef, state of ShapeDtypeStructs carrying shardings): the target layout for loading checkpoints."""
  abstract = nnx.eval_shape(make_module)
  graphdef, abstract_state = nnx.split(abstract)
  shardings = state_shardings(abstract_state, mesh, rules)
  # Map over Variables (not their values): `shardings` has one NamedSharding where the state has a Variable.
  target = jax.tree.map(lambda v, s: v.replace(jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=s)),
                        abstract_state, shardings, is_leaf=lambda x: isinstance(x, nnx.Variable))
  return graphdef, target
