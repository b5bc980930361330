"""The jitted step: sharded == unsharded, compiled once, gradient accumulation == large batch, PiSSA/LoRA."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from meta_rfft.model.config import from_run_config
from meta_rfft.model.decoder import Decoder
from meta_rfft.sharding.mesh import make_mesh
from meta_rfft.sharding.rules import DEFAULT_RULES
from meta_rfft.model import adapters as adapters_lib
from meta_rfft.model.ops import Ops
from meta_rfft.train import model_init, random_tokens, run_state, step as step_lib
from train_helpers import BATCH, SEQ_LEN, VOCAB, tiny_config

BATCHES = [random_tokens.RandomTokenBatches(BATCH, SEQ_LEN, VOCAB, seed=5).batch_at(i) for i in range(3)]


@functools.cache
def _setup(shape=(1, 1, 1), micro_batches=1, method="none", dtype="float32"):
  config = tiny_config(train={"micro_batches": micro_batches, "steps": 10},
                       adapter={"method": method, "rank": 4}, model={"dtype": dtype})
  n = int(np.prod(shape))
  mesh = make_mesh(shape, devices=jax.devices()[:n])
  setup = run_state.build(config, from_run_config(config.model), mesh, DEFAULT_RULES, global_batch=BATCH,
                          seq_len=SEQ_LEN)
  return config, setup


@functools.cache
def _initial_weights(method="none"):
  """Initial (params, adapters) on the host, computed once and placed onto each mesh (init compiles are slow)."""
  config, setup = _setup(method=method)
  if method == "none":
    return jax.device_get(run_state.initial_weights(setup, config))
  base = jax.device_put(_initial_weights()[0], model_init.shardings_of(setup.parts.abstract_params))
  return jax.device_get(model_init.fresh_adapters(setup.parts, base, int(config.init.seed)))


def _train(setup, batches, method="none"):
  weights = jax.device_put(_initial_weights(method), (model_init.shardings_of(setup.parts.abstract_params),
                                                      model_init.shardings_of(setup.parts.abstract_adapters)))
  state, frozen = run_state.make_state(setup, *weights)
  metrics = []
  for b in batches:
    state, m = setup.fns.train(state, frozen, step_lib.put_batch(b, setup.fns.batch_sharding, BATCH))
    metrics.append(jax.device_get(m))
  return metrics, jax.device_get(state["params"])


@functools.cache
def _unsharded_run(method="none"):
  _, setup = _setup(method=method)
  return _train(setup, BATCHES, method)


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 2, 2)])
def test_bfloat16_compute_keeps_float32_master_weights_and_tracks_float32(shape):
  ref_metrics, ref_params = _unsharded_run()
  _, setup = _setup(shape, dtype="bfloat16")
  metrics, params = _train(setup, BATCHES)
  assert all(x.dtype == np.float32 for x in jax.tree.leaves(params))
  losses, ref_losses = [m["loss"] for m in metrics], [m["loss"] for m in ref_metrics]
  np.testing.assert_allclose(losses, ref_losses, rtol=2e-2)
  assert losses != ref_losses  # the compute really ran in bfloat16
  moved = jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))), params, ref_params)
  assert max(jax.tree.leaves(moved)) < 5e-3


@pytest.mark.parametrize("shape,method", [((1, 8, 1), "none"), ((2, 2, 2), "none"), ((2, 2, 2), "pissa")])
def test_sharded_equals_unsharded_and_compiles_once(shape, method):
  ref_metrics, ref_params = _unsharded_run(method)
  _, setup = _setup(shape, method=method)
  metrics, params = _train(setup, BATCHES, method)
  if method != "none":  # every adapter factor is split over both parameter axes, none is whole on a device
    factors = jax.tree_util.tree_leaves_with_path(setup.parts.abstract_adapters)
    assert len(factors) == 2 * 7
    for path, x in factors:
      split_dim = 1 if jax.tree_util.keystr(path).endswith("['a']") else 2
      assert x.sharding.spec[split_dim] == ("tensor", "fsdp"), (jax.tree_util.keystr(path), x.sharding.spec)
  np.testing.assert_allclose([m["loss"] for m in metrics], [m["loss"] for m in ref_metrics], rtol=2e-6)
  np.testing.assert_allclose([m["grad_norm"] for m in metrics], [m["grad_norm"] for m in ref_metrics], rtol=1e-4)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=2e-5), params, ref_params)
  # The loss actually moved, so equal curves are not equal by accident of a no-op step.
  assert metrics[-1]["loss"] != metrics[0]["loss"]
  # Three steps, one trace and one compiled executable: shapes/shardings are stable from step to step.
  assert setup.fns.traces["train"] == 1
  assert setup.fns.train._cache_size() == 1


def test_the_step_compiles_its_backward_passes_for_the_mesh_platform():
  """The hand-written backward matmuls are chosen per platform (meta_rfft/model/custom_grads.py), from the
  ModelConfig's platform, which the step takes from its mesh. What each platform gets differs in bfloat16: a
  float32-output dot on CPUs, a bfloat16 one elsewhere."""
  config = tiny_config(model={"dtype": "bfloat16"})
  mesh = make_mesh((1, 2, 1), devices=jax.devices()[:2])
  setup = run_state.build(config, from_run_config(config.model).replace(platform="tpu"), mesh, DEFAULT_RULES,
                          global_batch=BATCH, seq_len=SEQ_LEN)
  assert setup.parts.model_cfg.run.platform == "cpu"  # the mesh's, whatever the config said

  rng = np.random.default_rng(3)
  x, w = (jnp.asarray(rng.normal(size=s), jnp.bfloat16) for s in ((4, 6), (6, 5)))

  def backward_dots(platform):
    ops = Ops(custom_grads=True, platform=platform)
    text = str(jax.make_jaxpr(jax.grad(lambda x, w: jnp.sum(ops.contract(x, w, 1).astype(jnp.float32)),
                                       argnums=(0, 1)))(x, w))
    return text.count("preferred_element_type=float32")
  assert backward_dots("cpu") == 3  # the forward dot and both backward dots
  assert backward_dots("tpu") == 1  # the forward dot only


def test_grad_accumulation_equals_large_batch():
  _, big = _setup((2, 2, 2))  # the same cache key as the sharding test's: no second compile
  _, acc = _setup((2, 2, 2), micro_batches=4)
  batch = BATCHES[0]
  # Micro-batch i takes rows i, i+4 (see step.py): their target-token counts differ, so a mean of per-micro-batch
  # means would NOT equal the large-batch loss; the token-weighted sum must.
  counts = [batch["loss_weights"][i::4].sum() for i in range(4)]
  assert len(set(counts)) > 1, counts
  mean_of_means = np.mean([_loss_of_rows(batch, slice(i, None, 4)) for i in range(4)])
  m_big, p_big = _train(big, [batch])
  m_acc, p_acc = _train(acc, [batch])
  np.testing.assert_allclose(m_acc[0]["loss"], m_big[0]["loss"], rtol=1e-6)
  assert abs(mean_of_means - m_big[0]["loss"]) > 1e-4
  np.testing.assert_allclose(m_acc[0]["grad_norm"], m_big[0]["grad_norm"], rtol=1e-5)
  assert m_acc[0]["target_tokens"] == m_big[0]["target_tokens"] == batch["loss_weights"].sum()
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), p_acc, p_big)


def _loss_of_rows(batch, rows):
  """The mean loss of some rows alone (their loss weights kept, the others' zeroed), by the eval step."""
  _, setup = _setup()
  params, _ = jax.device_put(_initial_weights())
  keep = np.zeros(BATCH, bool)
  keep[rows] = True
  masked = dict(batch, loss_weights=np.where(keep[:, None], batch["loss_weights"], 0.0).astype(np.float32))
  s, n = setup.fns.evaluate(params, {}, step_lib.put_batch(masked, setup.fns.batch_sharding, BATCH))
  return float(s / n)


def _logits(model, batch):
  return model(**step_lib.model_inputs({k: jnp.asarray(v) for k, v in batch.items()}))[0]


def test_pissa_starts_at_the_base_model_trains_only_adapters_and_merges():
  method = "pissa"
  config, setup = _setup(method=method)
  cfg = setup.parts.model_cfg
  base_params, _ = _initial_weights()
  base = nnx.merge(nnx.split(nnx.eval_shape(lambda: Decoder(cfg, rngs=nnx.Rngs(0))))[0], base_params)
  frozen, ads = _initial_weights(method)
  with_adapters = nnx.merge(setup.parts.graphdef, adapters_lib.join_params(frozen, ads))
  batch = BATCHES[1]
  # The residual + A@B reproduces W (float rounding only), though the frozen kernel is no longer W.
  np.testing.assert_allclose(_logits(with_adapters, batch), _logits(base, batch), atol=2e-5)
  kernel = base_params["layers"]["attn"]["q_proj"]["kernel"]
  assert not np.allclose(frozen["layers"]["attn"]["q_proj"]["kernel"], kernel, atol=1e-3)

  # Only adapter factors carry optimizer state (Adam's two moments each), and only they change.
  state, frozen_state = run_state.make_state(setup, *jax.device_put((frozen, ads)))
  n_adapter_leaves = len(jax.tree.leaves(ads))
  big = [x for x in jax.tree.leaves(state["opt_state"]) if x.ndim > 0]
  assert len(big) == 2 * n_adapter_leaves
  assert {x.shape for x in big} <= {x.shape for x in jax.tree.leaves(ads)}
  for b in BATCHES[:2]:  # the warmup's first step has learning rate 0
    state, _ = setup.fns.train(state, frozen_state, step_lib.put_batch(b, setup.fns.batch_sharding, BATCH))
  trained = jax.device_get(state["params"])
  assert any(not np.allclose(a, b) for a, b in zip(jax.tree.leaves(trained), jax.tree.leaves(ads)))

  # merge_adapters: plain weights whose forward equals the adapter model's.
  merged = adapters_lib.merge_adapters(frozen, trained, config.adapter.to_dict())
  assert jax.tree.structure(merged) == jax.tree.structure(base_params)
  trained_model = nnx.merge(setup.parts.graphdef, adapters_lib.join_params(frozen, trained))
  merged_model = nnx.merge(nnx.split(base)[0], merged)
  np.testing.assert_allclose(_logits(merged_model, batch), _logits(trained_model, batch), atol=2e-5)


def test_bad_inputs_name_the_culprit():
  config, setup = _setup()
  with pytest.raises(KeyError, match="loss_weights"):
    step_lib.model_inputs({k: v for k, v in BATCHES[0].items() if k != "loss_weights"})
  with pytest.raises(KeyError, match="visibility_rule"):
    step_lib.model_inputs({**BATCHES[0], "turn_ids": BATCHES[0]["segment_ids"]})
  bad = tiny_config(adapter={"method": "pissa", "targets": ("q", "qq")})
  with pytest.raises(ValueError, match="config.adapter.targets"):
    adapters_lib.check_config(bad.adapter)
  bad = tiny_config(train={"micro_batches": 3})
  with pytest.raises(ValueError, match="config.train.micro_batches"):
    run_state.build(bad, setup.parts.model_cfg, setup.parts.mesh, DEFAULT_RULES, global_batch=BATCH,
                    seq_len=SEQ_LEN)
