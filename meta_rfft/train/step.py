"""The loss, the batch -> model-call mapping, and the jitted train/eval steps.

Loss: token-weighted cross-entropy. Each micro-batch contributes the SUM of its per-token losses (weighted by
`loss_weights`) and its number of target tokens; the step divides the summed loss and the summed gradients by
the total target tokens of all micro-batches. So micro-batches with different token counts average exactly as
one large batch would (not a mean of per-micro-batch means).

The step is one `jax.jit` with explicit input/output shardings over the mesh, the train state donated. Its
Python body runs once per compilation; `StepFunctions.traces` counts those runs (the compile-once test).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from meta_rfft.model.visibility import Visibility
from meta_rfft.sharding.rules import Rules, logical_to_spec, use_sharding
from meta_rfft.model.adapters import join_params
from meta_rfft.model.ops import Ops

# The keys every training batch holds (the data pipelines write them, model_inputs reads them); any further
# int32 keys are per-token visibility ids. The whole batch contract: CONTRIBUTING.md, "Contracts between
# modules".
BATCH_KEYS = ("input_tokens", "target_tokens", "loss_weights", "segment_ids", "positions")


def model_inputs(batch: Mapping[str, jax.Array], visibility_rule: str | None = None) -> dict:
  """The keyword arguments of the model call for a batch: the one place that maps batch keys to the model.

  Keys beyond BATCH_KEYS (e.g. the multi-turn layout's turn/block ids) are passed as `Visibility(ids, rule)`
  when a visibility rule is configured; without one they are an error rather than silently ignored.
  """
  missing = [k for k in BATCH_KEYS if k not in batch]
  if missing:
    raise KeyError(f"batch lacks keys {missing}; the batch contract needs {BATCH_KEYS}")
  extra = {k: v for k, v in batch.items() if k not in BATCH_KEYS}
  kwargs = dict(tokens=batch["input_tokens"], positions=batch["positions"], segment_ids=batch["segment_ids"])
  if extra:
    if not visibility_rule:
      raise KeyError(f"batch has extra keys {sorted(extra)} but no visibility rule is configured "
                     f"(config.train.visibility_rule)")
    kwargs["visibility"] = Visibility(ids=extra, rule=visibility_rule)
  return kwargs


def loss_sums(model: nnx.Module, batch: Mapping[str, jax.Array],
              visibility_rule: str | None = None) -> tuple[jax.Array, jax.Array]:
  """(sum over tokens of loss_weight * cross-entropy, sum of loss_weights), both float32 scalars."""
  logits, _ = model(**model_inputs(batch, visibility_rule))
  nll = Ops.of(model.config).token_nll(logits.astype(jnp.float32), batch["target_tokens"])
  weights = batch["loss_weights"].astype(jnp.float32)
  return jnp.sum(nll * weights), jnp.sum(weights)


@dataclasses.dataclass
class StepFunctions:
  train: Callable  # (state, frozen, batch) -> (state, metrics); state donated
  evaluate: Callable  # (trainable, frozen, batch) -> (loss_sum, tokens)
  state_shardings: Any
  frozen_shardings: Any
  batch_sharding: NamedSharding
  traces: dict  # {"train": n, "evaluate": n}: how many times each was traced (= compiled)


def batch_spec(mesh: Mesh, rules: Rules, shape: tuple[int, ...]) -> PartitionSpec:
  return logical_to_spec(("act_batch", "act_length"), shape, mesh, rules)


def build(graphdef: nnx.GraphDef, tx: optax.GradientTransformation, lr_schedule: optax.Schedule, *, mesh: Mesh,
          rules: Rules, state_shardings: Any, frozen_shardings: Any, global_batch: int, seq_len: int,
          micro_batches: int = 1, adapters: bool = False, visibility_rule: str | None = None) -> StepFunctions:
  """Jitted train and eval steps for a model split into (trainable, frozen) pure dicts.

  `adapters`: the trainable dict holds adapter factors and `frozen` the base weights; otherwise the trainable
  dict is the whole model and `frozen` is empty.
  """
  if global_batch % micro_batches:
    raise ValueError(f"config.train.micro_batches={micro_batches} must divide the global batch ({global_batch})")
  traces = {"train": 0, "evaluate": 0}
  spec = batch_spec(mesh, rules, (global_batch // micro_batches, seq_len))
  batch_sharding = NamedSharding(mesh, batch_spec(mesh, rules, (global_batch, seq_len)))
  replicated = NamedSharding(mesh, PartitionSpec())

  def model_of(trainable, frozen):
    return nnx.merge(graphdef, join_params(frozen, trainable) if adapters else trainable)

  def micro_loss(trainable, frozen, batch):
    with use_sharding(mesh, rules):
      return loss_sums(model_of(trainable, frozen), batch, visibility_rule)

  grad_fn = jax.value_and_grad(micro_loss, has_aux=True)

  def train_step(state, frozen, batch):
    traces["train"] += 1
    params = state["params"]
    if micro_batches == 1:
      (loss_sum, tokens), grads = grad_fn(params, frozen, batch)
    else:
      # Row r*k + i goes to micro-batch i: every device keeps a share of every micro-batch (the batch axis is
      # split over devices in contiguous blocks), so no micro-batch leaves devices idle.
      def split(x):
        x = x.reshape(global_batch // micro_batches, micro_batches, *x.shape[1:]).swapaxes(0, 1)
        return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, PartitionSpec(None, *spec)))
      micro = jax.tree.map(split, batch)

      def body(carry, mb):
        g_acc, l_acc, n_acc = carry
        (l, n), g = grad_fn(params, frozen, mb)
        return (jax.tree.map(jnp.add, g_acc, g), l_acc + l, n_acc + n), None

      zeros = jax.tree.map(lambda p: jnp.zeros(p.shape, jnp.float32), params)
      (grads, loss_sum, tokens), _ = jax.lax.scan(body, (zeros, jnp.float32(0), jnp.float32(0)), micro)
    denom = jnp.maximum(tokens, 1.0)
    grads = jax.tree.map(lambda g, p: (g / denom).astype(p.dtype), grads, params)
    grad_norm = optax.global_norm(grads)
    updates, opt_state = tx.update(grads, state["opt_state"], params)
    new_state = {"params": optax.apply_updates(params, updates), "opt_state": opt_state,
                 "step": state["step"] + 1}
    metrics = {"loss": loss_sum / denom, "target_tokens": tokens, "grad_norm": grad_norm,
               "learning_rate": lr_schedule(state["step"])}
    return new_state, metrics

  def eval_step(trainable, frozen, batch):
    traces["evaluate"] += 1
    return micro_loss(trainable, frozen, batch)

  train = jax.jit(train_step, in_shardings=(state_shardings, frozen_shardings, batch_sharding),
                  out_shardings=(state_shardings, replicated), donate_argnums=(0,))
  evaluate = jax.jit(eval_step, in_shardings=(state_shardings["params"], frozen_shardings, batch_sharding),
                     out_shardings=(replicated, replicated))
  return StepFunctions(train=train, evaluate=evaluate, state_shardings=state_shardings,
                       frozen_shardings=frozen_shardings, batch_sharding=batch_sharding, traces=traces)


def put_batch(batch: Mapping[str, Any], sharding: NamedSharding, global_batch: int) -> dict:
  """This host's rows -> global arrays on the mesh (works with one or many processes)."""
  out = {}
  for k, v in batch.items():
    shape = (global_batch, *v.shape[1:])
    out[k] = jax.make_array_from_process_local_data(sharding, v, shape)
  return out
