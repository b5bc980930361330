"""The experiment's numbers across seeds: per held-out task and arm, from each run's eval/report.json.

Per (task, arm): accuracy by length (mean, min, max over seeds), Max_Len_90% per seed (mean, sample standard
deviation, min, max), accuracy at the longest length, in-distribution accuracy (mean over the adaptation
lengths), and the loop-count error by length (mean over seeds). Per arm: the mean over tasks and seeds.
Gaps between arms are differences of those means.
"""
from __future__ import annotations

import json
import os
from typing import Any, Mapping, Sequence

import numpy as np

from meta_rfft.pipeline.layout import Layout


def _stats(values: Sequence[float]) -> dict[str, Any]:
  arr = np.asarray(values, dtype=np.float64)
  return {"values": [float(v) for v in arr], "mean": float(arr.mean()),
          "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0, "min": float(arr.min()), "max": float(arr.max())}


def _task_block(report_path: str, fmt: str, task: str) -> dict:
  with open(report_path) as f:
    rep = json.load(f)
  return rep["formats"][fmt]["tasks"][task]


def one_arm(reports: Sequence[dict], adapt_lengths: Sequence[int]) -> dict:
  """Summary of one (task, arm) over seeds; `reports`: that task's block of each seed's report.json."""
  lengths = sorted({int(n) for r in reports for n in r["lengths"]})
  curve, loop_mean, loop_rate = {}, {}, {}
  for n in lengths:
    accs = [r["lengths"][str(n)]["accuracy"] for r in reports if str(n) in r["lengths"]]
    curve[n] = {"mean": float(np.mean(accs)), "min": float(np.min(accs)), "max": float(np.max(accs))}
    errors = [r["lengths"][str(n)] for r in reports if "loop_error_mean" in r["lengths"].get(str(n), {})]
    if errors:
      loop_mean[n] = float(np.mean([e["loop_error_mean"] for e in errors]))
      loop_rate[n] = float(np.mean([e["loop_error_rate"] for e in errors]))
  in_dist = []
  for r in reports:
    accs = [r["lengths"][str(n)]["accuracy"] for n in adapt_lengths if str(n) in r["lengths"]]
    if accs:
      in_dist.append(float(np.mean(accs)))
  return {"seeds": len(reports), "accuracy": curve, "max_len_90": _stats([r["max_len_90"] for r in reports]),
          "acc_longest": _stats([r["acc_longest"] for r in reports]),
          "longest_length": max(lengths) if lengths else None,
          "in_distribution": _stats(in_dist) if in_dist else None,
          "loop_error_mean": loop_mean, "loop_error_rate": loop_rate}


def collect(lay: Layout, *, seeds: Sequence[int], tasks: Sequence[str], arms: Sequence[str], fmt: str,
            adapt_lengths: Sequence[int]) -> dict:
  """{"tasks": {task: {arm: one_arm(...)}}, "arms": {arm: {...means over tasks}}, "gaps": {...}}."""
  per_task: dict[str, dict[str, Any]] = {}
  for task in tasks:
    per_task[task] = {}
    for arm in arms:
      paths = [lay.eval_report(s, task, arm) for s in seeds]
      missing = [p for p in paths if not os.path.isfile(p)]
      if missing:
        raise FileNotFoundError(f"no evaluation report at {missing[0]} (rerun the pipeline to finish it)")
      per_task[task][arm] = one_arm([_task_block(p, fmt, task) for p in paths], adapt_lengths)
  overall = {}
  for arm in arms:
    max_lens = [v for task in tasks for v in per_task[task][arm]["max_len_90"]["values"]]
    in_dist = [v for task in tasks if per_task[task][arm]["in_distribution"]
               for v in per_task[task][arm]["in_distribution"]["values"]]
    overall[arm] = {"max_len_90_mean": float(np.mean(max_lens)),
                    "max_len_90_task_means": {t: per_task[t][arm]["max_len_90"]["mean"] for t in tasks},
                    "in_distribution_mean": float(np.mean(in_dist)) if in_dist else None,
                    "in_distribution_min": float(np.min(in_dist)) if in_dist else None}
  gaps = {}
  if "meta" in arms:
    for other in (a for a in arms if a != "meta"):
      gaps[f"meta_minus_{other}"] = overall["meta"]["max_len_90_mean"] - overall[other]["max_len_90_mean"]
      # The same gap seed by seed (seeds pair up: one base model, one data order), to show its spread.
      gaps[f"meta_minus_{other}_by_seed"] = [
          float(np.mean([per_task[t]["meta"]["max_len_90"]["values"][i] - per_task[t][other]["max_len_90"]["values"][i]
                         for t in tasks])) for i in range(len(seeds))]
  return {"tasks": per_task, "arms": overall, "gaps": gaps}


def check_targets(summary: Mapping[str, Any], targets: Mapping[str, Any]) -> list[dict]:
  """Each configured target with its measured value and whether it holds (targets of 0 are not set)."""
  out = []
  arms = summary["arms"]
  if "meta" in arms and float(targets.get("meta_max_len_90", 0)):
    want = float(targets["meta_max_len_90"])
    got = arms["meta"]["max_len_90_mean"]
    out.append({"target": f"Meta-RFFT mean Max_Len_90% >= {want:g}", "value": got, "holds": got >= want})
  for other in ("vanilla", "control"):
    want = float(targets.get(f"gap_{other}", 0))
    name = f"meta_minus_{other}"
    if want and name in summary["gaps"]:
      got, by_seed = summary["gaps"][name], summary["gaps"][f"{name}_by_seed"]
      out.append({"target": f"Meta-RFFT mean Max_Len_90% >= {other}'s + {want:g}", "value": got, "holds": got >= want})
      out.append({"target": f"... on every seed ({other})", "value": min(by_seed), "holds": min(by_seed) >= want})
  if float(targets.get("in_distribution", 0)):
    want = float(targets["in_distribution"])
    for arm, block in arms.items():
      got = block["in_distribution_min"]
      out.append({"target": f"{arm}: in-distribution accuracy >= {100 * want:.0f}% (every task and seed)",
                  "value": got, "holds": got is not None and got >= want})
  return out
