"""Correlations between two arms' accuracies, with bootstrap confidence intervals over tasks (scipy.stats).

Units: tasks (a task's accuracy is the mean over its length buckets) and task x length-bucket cells. Either way
the bootstrap resamples *tasks* with replacement (a resampled task brings all its cells), because tasks are the
independent draws: the cells of one task share its difficulty. A correlation is undefined (None) on fewer than
3 units or when either side is constant; resamples where it is undefined are left out of the interval, and
their count is reported.
"""
from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import numpy as np
from scipy import stats

METHODS = ("spearman", "pearson", "kendall")
_FUNCTIONS = {"spearman": stats.spearmanr, "pearson": stats.pearsonr, "kendall": stats.kendalltau}


def coefficient(x: Sequence[float], y: Sequence[float], method: str) -> tuple[float | None, float | None]:
  """(coefficient, two-sided p-value) of scipy's test, or (None, None) where it is undefined."""
  x, y = np.asarray(x, float), np.asarray(y, float)
  if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
    return None, None
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # scipy's small-sample notes; undefined cases are handled above
    res = _FUNCTIONS[method](x, y)
  r, p = float(res.statistic), float(res.pvalue)
  return (None, None) if np.isnan(r) else (r, p)


def _statistic(table: Sequence[Sequence[tuple[float, float]]], method: str):
  """The coefficient over the cells of the tasks a resample picked (indices into `table`)."""
  def fn(idx):
    cells = [c for i in np.asarray(idx, int) for c in table[i]]
    r, _ = coefficient([c[0] for c in cells], [c[1] for c in cells], method)
    return np.nan if r is None else r
  return fn


def bootstrap_ci(table: Sequence[Sequence[tuple[float, float]]], method: str, *, resamples: int,
                 confidence: float, seed: int) -> dict:
  """Percentile interval of `method`'s coefficient over the cells of tasks resampled with replacement.

  `table[i]`: task i's (x, y) cells (one cell per task for the over-tasks correlation). The resampling is
  scipy.stats.bootstrap's; the interval is the percentile of the resamples where the coefficient is defined
  (scipy's own percentile interval when all are)."""
  n = len(table)
  if n < 2:
    return {"low": None, "high": None, "resamples": 0, "undefined": 0}
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # scipy's warning on resamples where the coefficient is undefined (NaN)
    res = stats.bootstrap((np.arange(n),), _statistic(table, method), n_resamples=int(resamples),
                          confidence_level=float(confidence), vectorized=False, method="percentile",
                          rng=np.random.default_rng(int(seed)))
  dist = np.asarray(res.bootstrap_distribution, float)
  ok = dist[~np.isnan(dist)]
  if not len(ok):
    return {"low": None, "high": None, "resamples": int(resamples), "undefined": int(resamples)}
  alpha = (1 - float(confidence)) / 2
  low, high = np.percentile(ok, [100 * alpha, 100 * (1 - alpha)])
  return {"low": float(low), "high": float(high), "resamples": int(resamples),
          "undefined": int(len(dist) - len(ok))}


def correlate(cells: Mapping[str, Mapping[str, tuple[float, float]]], *, resamples: int = 2000,
              confidence: float = 0.95, seed: int = 0) -> dict:
  """{"over_tasks": {method: {...}}, "over_cells": {...}} for x/y accuracies per task and bucket.

  `cells[task][bucket] = (x, y)`. Each method's entry: r, p (scipy's test, which treats units as independent,
  so only the over-tasks p-value is meaningful), low/high (bootstrap interval over tasks), n (units)."""
  tasks = sorted(cells)
  per_task = [[(float(np.mean([v[0] for v in cells[t].values()])), float(np.mean([v[1] for v in cells[t].values()])))]
              for t in tasks]
  per_cell = [[tuple(map(float, cells[t][b])) for b in sorted(cells[t])] for t in tasks]
  out = {}
  for unit, table in (("over_tasks", per_task), ("over_cells", per_cell)):
    flat = [c for group in table for c in group]
    out[unit] = {}
    for method in METHODS:
      r, p = coefficient([c[0] for c in flat], [c[1] for c in flat], method)
      ci = bootstrap_ci(table, method, resamples=resamples, confidence=confidence, seed=seed)
      out[unit][method] = {"r": r, "p": p, "n": len(flat), **ci}
  return out


def linear_fit(x: Sequence[float], y: Sequence[float]) -> tuple[float, float] | None:
  """(slope, intercept) of the least-squares line, or None where x is constant or has fewer than 2 points."""
  x = np.asarray(x, float)
  if len(x) < 2 or np.ptp(x) == 0:
    return None
  fit = stats.linregress(x, np.asarray(y, float))
  return float(fit.slope), float(fit.intercept)
