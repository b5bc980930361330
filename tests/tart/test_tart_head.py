"""The reasoning head, its synthetic training and the whitening: packed queries equal separate passes, whitened
features have identity covariance, resume is exact, a trained tiny head approaches a fitted logistic regression,
and bad inputs are named errors that write nothing."""
from __future__ import annotations

import importlib.util
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from meta_rfft.tart.evaluate import HeadPredictor, evaluate, synthetic_rows
from meta_rfft.tart.features import Whitener
from meta_rfft.tart.head import ReasoningHead, interleave, query_logits
from meta_rfft.tart.logistic_tasks import Curriculum
from meta_rfft.tart.train import load_head, train

pytestmark = pytest.mark.heavy  # started first: see tests/conftest.py

ROOT = pathlib.Path(__file__).resolve().parents[2]


def tiny_config(**overrides):
  spec = importlib.util.spec_from_file_location("tart_config", ROOT / "configs" / "tart.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config("tiny")
  for key, value in overrides.items():
    section, name = key.split(".") if "." in key else (None, key)
    if section:
      c[section][name] = value
    else:
      c[name] = value
  return c


def _quiet(*_):
  pass


def test_interleave_puts_labels_in_coordinate_zero():
  xs = jax.random.normal(jax.random.key(0), (2, 3, 4))
  ys = jnp.array([[1., 0., 1.], [0., 1., 1.]])
  seq = interleave(xs, ys)
  np.testing.assert_array_equal(seq[:, 0::2], xs)
  np.testing.assert_array_equal(seq[:, 1::2, 0], ys)
  np.testing.assert_array_equal(seq[:, 1::2, 1:], 0)


def test_packed_queries_equal_separate_passes():
  c = tiny_config()
  head = ReasoningHead(c.head, rngs=nnx.Rngs(3))
  key = jax.random.split(jax.random.key(1), 3)
  xs, queries = jax.random.normal(key[0], (5, 4)), jax.random.normal(key[1], (3, 4))
  ys = jax.random.bernoulli(key[2], 0.5, (5,)).astype(jnp.float32)
  packed = query_logits(head, xs, ys, queries)
  for j in range(3):
    seq = jnp.concatenate([interleave(xs[None], ys[None])[0], queries[j:j + 1]])[None]
    np.testing.assert_allclose(packed[j], head(seq)[0, -1], rtol=1e-5, atol=1e-5)
  # The labels matter: flipping one changes every query's logit.
  assert np.all(np.abs(np.asarray(query_logits(head, xs, 1 - ys, queries) - packed)) > 1e-6)


def test_curriculum_grows_to_the_head_size_and_stops():
  c = tiny_config(**{"curriculum.every": 5})
  cur = Curriculum.from_config(c)
  assert cur.at(0) == (2, 10) and cur.at(4) == (2, 10) and cur.at(5) == (4, 22)
  assert cur.at(10_000) == (4, 34)


@pytest.mark.parametrize("k", [40, 6])
def test_whitened_training_features_have_identity_covariance(k):
  rng = np.random.default_rng(k)
  mixing = rng.standard_normal((12, 12)) * rng.uniform(0.1, 10, 12)
  train = rng.standard_normal((k, 12)) @ mixing + 5.0
  white = Whitener(8)
  z = white.fit_transform(train)
  kept = min(8, k - 1)
  assert white.kept == kept and z.shape == (k, 8)
  np.testing.assert_allclose(np.cov(z[:, :kept], rowvar=False), np.eye(kept), atol=1e-6)
  np.testing.assert_array_equal(z[:, kept:], 0)
  # The queries get the training transform, not one of their own.
  queries = rng.standard_normal((7, 12)) @ mixing
  np.testing.assert_allclose(white.transform(queries)[:, :kept],
                             white.pca.transform(queries)[:, :kept], rtol=1e-5, atol=1e-5)


def test_whitener_names_bad_features():
  with pytest.raises(ValueError, match="NaN"):
    Whitener(4).fit(np.array([[1.0, np.nan], [2.0, 3.0], [0.0, 1.0]]))
  with pytest.raises(ValueError, match="do not vary"):
    Whitener(4).fit(np.ones((5, 3)))


def test_resume_is_exact_on_a_data_parallel_mesh(tmp_path):
  assert jax.device_count() == 8
  c = tiny_config(**{"train.steps": 6, "train.checkpoint_every": 3, "train.log_every": 1, "curriculum.every": 3,
                     "train.batch_size": 16})
  straight = train(c, str(tmp_path / "straight"), log=_quiet)
  c3 = tiny_config(**{"train.steps": 3, "train.checkpoint_every": 3, "train.log_every": 1, "curriculum.every": 3,
                      "train.batch_size": 16})
  train(c3, str(tmp_path / "resumed"), log=_quiet)
  logs = []
  resumed = train(c, str(tmp_path / "resumed"), log=logs.append)
  assert any("resumed from" in line for line in logs)
  assert "data=8" in logs[0]
  for a, b in zip(jax.tree.leaves(straight.params), jax.tree.leaves(resumed.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  steps = [json.loads(line)["step"] for line in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
  assert steps == [1, 2, 3, 4, 5, 6]
  # The sharded batch really is split: every device holds a slice of the parameters' replicas, not the batch.
  assert all(len(p.sharding.device_set) == 8 for p in jax.tree.leaves(resumed.params))


def test_resume_under_another_stream_is_a_named_error(tmp_path):
  c = tiny_config(**{"train.steps": 2, "train.checkpoint_every": 2})
  train(c, str(tmp_path), log=_quiet)
  before = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
  with pytest.raises(ValueError, match=r"config\.seed: 0 there, 5 now"):
    train(tiny_config(**{"seed": 5, "train.steps": 4}), str(tmp_path), log=_quiet)
  assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == before


@pytest.fixture(scope="module")
def trained_tiny(tmp_path_factory):
  """The tiny variant trained to its end (configs/tart.py:tiny): d = 4, up to 34 examples."""
  workdir = str(tmp_path_factory.mktemp("tart_tiny"))
  train(tiny_config(), workdir, log=_quiet)
  return workdir


def test_trained_head_approaches_logistic_regression_as_k_grows(trained_tiny):
  c, workdir = tiny_config(), trained_tiny
  mesh = jax.sharding.Mesh(np.array(jax.devices()).reshape(8, 1, 1), ("data", "fsdp", "tensor"))
  from meta_rfft.sharding.rules import DEFAULT_RULES
  head, step = load_head(c, workdir, mesh, DEFAULT_RULES)
  assert step == int(c.train.steps)
  predict = HeadPredictor(head, mesh, DEFAULT_RULES, 64)
  acc = {}
  for k in (4, 8, 16, 32):
    rows = [r for s in (1, 2, 3) for r in synthetic_rows(predict, 4, 10.0, k, s, 32, 64)]
    acc[k] = {m: np.mean([r["accuracy"] for r in rows if r["method"] == m]) for m in ("tart", "logreg", "bayes")}
  # Margin: within 5 points of the per-task fit at the largest k, and well above chance there.
  assert acc[32]["tart"] >= acc[32]["logreg"] - 0.05, acc
  assert acc[32]["tart"] >= acc[4]["tart"] + 0.05, acc
  assert acc[32]["bayes"] >= acc[32]["logreg"] - 0.02, acc


def test_evaluate_writes_the_report(trained_tiny, tmp_path):
  c, workdir = tiny_config(), trained_tiny
  c.eval.ks, c.eval.seeds, c.eval.test_size = (8, 16), (42, 69), 30
  c.eval.datasets = ("breast_cancer", "digits_3_8")
  result = evaluate(c, workdir, ["test"], log=_quiet)
  out = pathlib.Path(workdir) / "tart_eval"
  assert {p.name for p in out.iterdir()} >= {"report.json", "report.md", "accuracy_vs_k.png", "config.json"}
  stored = json.loads((out / "report.json").read_text())
  assert stored["summary"] == result["summary"]
  methods = {(e["dataset"], e["method"]) for e in stored["summary"]}
  assert ("breast_cancer", "tart") in methods and ("digits_3_8", "logreg_all") in methods
  assert ("synthetic", "bayes") in methods
  by = {(e["dataset"], e["method"], e["k"]): e for e in stored["summary"]}
  assert by[("breast_cancer", "logreg_all", 16)]["seeds"] == 2
  # Real data: the features make the classes separable; the head must do far better than chance there.
  assert by[("breast_cancer", "tart", 16)]["mean"] > 0.75, by[("breast_cancer", "tart", 16)]
  assert "| tart |" in (out / "report.md").read_text()


@pytest.mark.parametrize("key,value,match", [
    ("eval.ks", (8, 40), r"config\.eval\.ks=\(8, 40\): \[40\] outside 2\.\.33"),
    ("eval.datasets", ("iris",), r"unknown dataset 'iris'"),
    ("eval.modes", ("stream", "mean"), r"config\.eval\.modes: unknown \['mean'\]"),
    ("eval.jsonl", "/nonexistent.jsonl", r"config\.eval\.checkpoint"),
])
def test_bad_eval_config_is_named_and_writes_nothing(trained_tiny, key, value, match):
  c, workdir = tiny_config(), trained_tiny
  section, name = key.split(".")
  c[section][name] = value
  out = pathlib.Path(workdir) / "tart_eval"
  before = sorted(p.name for p in out.iterdir()) if out.exists() else None
  mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()} if out.exists() else {}
  with pytest.raises(ValueError, match=match):
    evaluate(c, workdir, ["test"], log=_quiet)
  after = {p.name: p.stat().st_mtime_ns for p in out.iterdir()} if out.exists() else {}
  assert after == mtimes and (before is None) == (not after)


def test_evaluate_without_a_trained_head_is_named(tmp_path):
  with pytest.raises(ValueError, match="holds no trained head"):
    evaluate(tiny_config(), str(tmp_path), ["test"], log=_quiet)
  assert not (tmp_path / "tart_eval").exists()


@pytest.mark.parametrize("key,value,match", [
    ("head.heads", 3, r"config\.head\.width=32 must be a multiple of config\.head\.heads=3"),
    ("curriculum.points_start", 50, r"config\.curriculum\.points_start=50 exceeds config\.head\.max_points=34"),
    ("optim.learning_rate", 0.0, r"config\.optim\.learning_rate=0\.0 must be positive"),
])
def test_bad_train_config_is_named_and_writes_nothing(tmp_path, key, value, match):
  with pytest.raises(ValueError, match=match):
    train(tiny_config(**{key: value}), str(tmp_path / "run"), log=_quiet)
  assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())
