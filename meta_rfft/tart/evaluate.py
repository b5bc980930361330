"""Evaluating a trained head: `python -m meta_rfft.tart evaluate`, writing WORKDIR/tart_eval/.

For every k in config.eval.ks and seed in config.eval.seeds, on the same k labelled examples and queries:
- held-out synthetic tasks (drawn with numpy, a generator family apart from the training stream's): the head,
  a logistic regression fitted per task on the k examples, and the Bayes classifier that knows the task's w;
- scikit-learn's feature datasets: the head on PCA-whitened features, logistic regression on those same
  features, and logistic regression on every (standardised) feature;
- text (rule tasks answering True/False, a user's JSONL): the LM's embeddings in each mode, whitened, fed to the
  head and to logistic regression; and the LM's own k-shot answer.
Every input is read and checked before any computation, and the report is written only at the end.
"""
from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from meta_rfft import distributed, io_paths, layouts
from meta_rfft.config.loader import save_config
from meta_rfft.sharding.rules import normalize_rules, use_sharding
from meta_rfft.tart import report as report_lib
from meta_rfft.tart import text_data
from meta_rfft.tart.embed import LMEmbedder, PromptTooLong, load_lm
from meta_rfft.tart.feature_data import draw_split, load_feature_dataset
from meta_rfft.tart.features import Whitener
from meta_rfft.tart.head import query_logits
from meta_rfft.tart.train import load_head

MODES = ("stream", "vanilla", "loo")
RULE_LABEL_WORDS = ("False", "True")


def _logreg_accuracy(train_x, train_y, test_x, test_y) -> float:
  fit = LogisticRegression(max_iter=2000).fit(train_x, train_y)
  return float(np.mean(fit.predict(test_x) == test_y))


class HeadPredictor:
  """The head's probability of label 1 for each query, one compiled program per k (queries padded to a fixed
  count)."""

  def __init__(self, head, mesh, rules, query_slots: int):
    self.graphdef, self.params = nnx.split(head)
    self.slots = query_slots

    def probs(params, xs, ys, queries):
      with use_sharding(mesh, rules):
        return jax.nn.sigmoid(query_logits(nnx.merge(self.graphdef, params), xs, ys, queries))
    self._one = jax.jit(probs)
    self._many = jax.jit(jax.vmap(probs, in_axes=(None, 0, 0, 0)))

  def _pad(self, queries: np.ndarray) -> np.ndarray:
    m = queries.shape[-2]
    if m > self.slots:
      raise ValueError(f"{m} queries exceed the {self.slots} query slots (config.eval.test_size)")
    pad = [(0, 0)] * (queries.ndim - 2) + [(0, self.slots - m), (0, 0)]
    return np.pad(queries.astype(np.float32), pad)

  def __call__(self, xs, ys, queries) -> np.ndarray:
    out = self._one(self.params, jnp.asarray(xs, jnp.float32), jnp.asarray(ys, jnp.float32),
                    jnp.asarray(self._pad(queries)))
    return np.asarray(out)[:queries.shape[0]]

  def batched(self, xs, ys, queries) -> np.ndarray:
    out = self._many(self.params, jnp.asarray(xs, jnp.float32), jnp.asarray(ys, jnp.float32),
                     jnp.asarray(self._pad(queries)))
    return np.asarray(out)[:, :queries.shape[1]]


def synthetic_rows(predict: HeadPredictor, dim: int, alpha: float, k: int, seed: int, tasks: int,
                   queries: int) -> list[dict]:
  rng = np.random.default_rng([seed, k, 0x7A47])
  ws = alpha * rng.standard_normal((tasks, dim))
  xs = rng.standard_normal((tasks, k + queries, dim))
  ys = (rng.random((tasks, k + queries)) < 1 / (1 + np.exp(-np.einsum("tnd,td->tn", xs, ws)))).astype(np.int64)
  probs = predict.batched(xs[:, :k], ys[:, :k], xs[:, k:])
  tart, logreg, bayes = [], [], []
  for t in range(tasks):
    test_y = ys[t, k:]
    tart.append(np.mean((probs[t] >= 0.5) == test_y))
    bayes.append(np.mean((xs[t, k:] @ ws[t] >= 0) == test_y))
    train_y = ys[t, :k]
    # A fit needs both labels; with one, predicting that label is what any fit would do.
    logreg.append(_logreg_accuracy(xs[t, :k], train_y, xs[t, k:], test_y) if len(set(train_y)) == 2
                  else float(np.mean(test_y == train_y[0])))
  base = dict(dataset="synthetic", kind="synthetic", k=k, seed=seed)
  return [dict(base, method=name, accuracy=float(np.mean(v)))
          for name, v in (("tart", tart), ("logreg", logreg), ("bayes", bayes))]


def feature_rows(predict: HeadPredictor, name: str, x: np.ndarray, y: np.ndarray, dim: int, k: int, seed: int,
                 test_size: int) -> list[dict]:
  train, test = draw_split(y, k, test_size, seed)
  # Measurements in different units: standardised first, so that PCA does not just pick the largest unit.
  scaler = StandardScaler().fit(x[train])
  sx_train, sx_test = scaler.transform(x[train]), scaler.transform(x[test])
  white = Whitener(dim).fit(sx_train)
  w_train, w_test = white.transform(sx_train), white.transform(sx_test)
  probs = predict(w_train, y[train], w_test)
  base = dict(dataset=name, kind="features", k=k, seed=seed)
  return [dict(base, method="tart", accuracy=float(np.mean((probs >= 0.5) == y[test]))),
          dict(base, method="logreg_pca", accuracy=_logreg_accuracy(w_train, y[train], w_test, y[test])),
          dict(base, method="logreg_all", accuracy=_logreg_accuracy(sx_train, y[train], sx_test, y[test]))]


def text_rows(predict: HeadPredictor, embedder, name: str, examples: list, dim: int, k: int, seed: int,
              test_size: int, modes) -> list[dict]:
  labels = np.array([e.label for e in examples], np.int64)
  train, test = draw_split(labels, k, test_size, seed)
  texts = [examples[i].text for i in train]
  queries = [examples[i].text for i in test]
  y_train, y_test = labels[train], labels[test]
  base = dict(dataset=name, kind="text", k=k, seed=seed)
  rows = []
  for mode in modes:
    try:
      if mode == "stream":
        e_train, e_test = embedder.stream(texts), embedder.stream(queries)
      elif mode == "vanilla":
        e_train, e_test = embedder.vanilla(texts, y_train, queries)
      else:
        e_train, e_test = embedder.leave_one_out(texts, y_train, queries, seed)
    except PromptTooLong as e:
      rows += [dict(base, method=f"{m}_{mode}", accuracy=None, skipped=f"prompt of {e.tokens} tokens > {e.limit}")
               for m in ("tart", "logreg")]
      continue
    white = Whitener(dim).fit(e_train)
    w_train, w_test = white.transform(e_train), white.transform(e_test)
    probs = predict(w_train, y_train, w_test)
    rows.append(dict(base, method=f"tart_{mode}", accuracy=float(np.mean((probs >= 0.5) == y_test))))
    rows.append(dict(base, method=f"logreg_{mode}", accuracy=_logreg_accuracy(w_train, y_train, w_test, y_test)))
  try:
    icl = embedder.icl_probs(texts, y_train, queries)
    rows.append(dict(base, method="icl", accuracy=float(np.mean((icl >= 0.5) == y_test))))
  except PromptTooLong as e:
    rows.append(dict(base, method="icl", accuracy=None, skipped=f"prompt of {e.tokens} tokens > {e.limit}"))
  return rows


def _check_eval_config(config, max_k: int) -> None:
  ev = config.eval
  ks = [int(k) for k in ev.ks]
  if not ks or not list(ev.seeds):
    raise ValueError("config.eval.ks and config.eval.seeds must each list at least one value")
  bad = [k for k in ks if k < 2 or k > max_k]
  if bad:
    raise ValueError(f"config.eval.ks={tuple(ks)}: {bad} outside 2..{max_k} (the head holds config.head.max_points="
                     f"{int(config.head.max_points)} examples, one of them the query)")
  if int(ev.test_size) < 1:
    raise ValueError(f"config.eval.test_size={ev.test_size} must be positive")
  unknown = [m for m in ev.modes if m not in MODES]
  if unknown:
    raise ValueError(f"config.eval.modes: unknown {unknown}; choose from {MODES}")
  if (ev.rf_tasks or ev.jsonl) and not ev.checkpoint:
    raise ValueError("config.eval.rf_tasks / config.eval.jsonl embed text with an LM: set config.eval.checkpoint "
                     "(a converted checkpoint or a trainer WORKDIR)")


def _text_datasets(config) -> dict[str, tuple[list, tuple[str, str]]]:
  """{name: (examples, label words)}, every file and task checked before any work."""
  ev, out = config.eval, {}
  if ev.rf_tasks:
    for task_id, examples in text_data.rule_task_examples(str(ev.rf_tasks), int(ev.rf_length), int(ev.rf_pool),
                                                          0).items():
      out[f"rf:{task_id}"] = (examples, RULE_LABEL_WORDS)
  if ev.jsonl:
    words = tuple(w.strip() for w in str(ev.label_words).split(","))
    if len(words) != 2 or not all(words):
      raise ValueError(f"config.eval.label_words={ev.label_words!r}: two comma-separated words (label 0, label 1)")
    out[f"jsonl:{os.path.basename(str(ev.jsonl))}"] = (text_data.read_jsonl(str(ev.jsonl)), words)
  for name, (examples, _) in out.items():
    need = max(int(k) for k in ev.ks) + 1
    if len(examples) < need:
      raise ValueError(f"{name}: {len(examples)} examples, but k={need - 1} needs at least {need} "
                       f"(config.eval.ks)")
  return out


def evaluate(config, workdir: str, argv: list[str] | None = None, log=print) -> dict:
  # ---- mesh, head and inputs: everything checked before anything is computed or written --------------------
  distributed.initialize(config)
  mesh = distributed.global_mesh_from_config(config.mesh)
  rules = normalize_rules(dict(config.sharding.rules))
  workdir = os.fspath(io_paths.resolve(workdir))
  _check_eval_config(config, int(config.head.max_points) - 1)
  feature_sets = {name: load_feature_dataset(name) for name in config.eval.datasets}
  text_sets = _text_datasets(config)
  head, step = load_head(config, workdir, mesh, rules)
  ev, dim = config.eval, int(config.head.input_dim)
  predict = HeadPredictor(head, mesh, rules, int(ev.test_size))
  embedders = {}
  if text_sets:
    lm, vocab = load_lm(str(ev.checkpoint), mesh, rules)
    for name, (_, words) in text_sets.items():
      embedders[name] = LMEmbedder(lm, vocab, label_words=words, max_chars=int(ev.max_chars),
                                   max_prompt_tokens=int(ev.max_prompt_tokens), batch=int(ev.lm_batch))
      embedders[name].label_token_ids()  # label words the LM cannot tell apart: an error before any work
  log(f"[tart] evaluating the head of {workdir} (step {step}) at k={tuple(ev.ks)}, seeds={tuple(ev.seeds)}")

  # ---- the runs --------------------------------------------------------------------------------------------
  rows, timings = [], {}
  for k in (int(k) for k in ev.ks):
    for seed in (int(s) for s in ev.seeds):
      t = time.perf_counter()
      if int(ev.synthetic_tasks) > 0:
        rows += synthetic_rows(predict, dim, float(config.synthetic.alpha), k, seed, int(ev.synthetic_tasks),
                               int(ev.test_size))
      for name, (x, y) in feature_sets.items():
        if k < len(y):
          rows += feature_rows(predict, name, x, y, dim, k, seed, int(ev.test_size))
      for name, (examples, _) in text_sets.items():
        rows += text_rows(predict, embedders[name], name, examples, dim, k, seed, int(ev.test_size), ev.modes)
      timings[f"k={k},seed={seed}"] = round(time.perf_counter() - t, 2)
      log(f"[tart] k={k} seed={seed}: {timings[f'k={k},seed={seed}']:.1f}s")

  # ---- report ----------------------------------------------------------------------------------------------
  out_dir = layouts.Workdir.at(workdir).tart_eval
  meta = {"head_step": step, "head": config.head.to_dict(), "checkpoint": str(ev.checkpoint) or None,
          "ks": [int(k) for k in ev.ks], "seeds": [int(s) for s in ev.seeds], "test_size": int(ev.test_size),
          "seconds": timings, "command": " ".join(argv or [])}
  result = report_lib.build(rows, meta)
  if jax.process_index() == 0:
    report_lib.write(result, out_dir)
    save_config(config, os.fspath(out_dir.root), argv)
    log(f"[tart] wrote {os.fspath(out_dir.report_md)}")
  return result
