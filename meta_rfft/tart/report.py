"""The TART evaluation report: per-seed rows summarised over seeds, as report.json, report.md and an
accuracy-vs-k plot (the folder is laid out in meta_rfft/layouts.py, TartEvalDir)."""
from __future__ import annotations

import collections
import io
import json
import os

import numpy as np
import matplotlib

matplotlib.use("Agg")  # files only, never a display
import matplotlib.pyplot as plt  # noqa: E402

from meta_rfft import io_paths, layouts

# The order methods are listed in, and what each is (report.md's legend).
METHOD_NOTES = {
    "tart": "the head on PCA-whitened features",
    "logreg_pca": "logistic regression on the head's features (the same PCA-whitened d dimensions)",
    "logreg_all": "logistic regression on every feature, standardised",
    "logreg": "logistic regression fitted on the task's k examples",
    "bayes": "the Bayes classifier, which knows the task's w",
    "tart_stream": "the head on the LM's stream embeddings (each example alone)",
    "tart_vanilla": "the head on the LM's vanilla embeddings (all k examples in one prompt)",
    "tart_loo": "the head on the LM's leave-one-out embeddings",
    "logreg_stream": "logistic regression on the same whitened stream embeddings",
    "logreg_vanilla": "logistic regression on the same whitened vanilla embeddings",
    "logreg_loo": "logistic regression on the same whitened leave-one-out embeddings",
    "icl": "the LM's own k-shot answer (next-token probabilities of the two label words)",
}


def _order(method: str) -> int:
  return list(METHOD_NOTES).index(method) if method in METHOD_NOTES else len(METHOD_NOTES)


def build(rows: list[dict], meta: dict) -> dict:
  """{"meta", "rows" (one per dataset, method, k and seed), "summary" (mean, sd and seeds over the seeds)}."""
  groups = collections.defaultdict(list)
  for r in rows:
    groups[(r["dataset"], r["kind"], r["method"], r["k"])].append(r)
  summary = []
  for (dataset, kind, method, k), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], _order(kv[0][2]), kv[0][3])):
    acc = [r["accuracy"] for r in rs if r.get("accuracy") is not None]
    entry = dict(dataset=dataset, kind=kind, method=method, k=k, seeds=len(acc),
                 mean=float(np.mean(acc)) if acc else None,
                 # Sample standard deviation over seeds (ddof=1): the spread a rerun with other seeds would see.
                 sd=float(np.std(acc, ddof=1)) if len(acc) > 1 else None)
    skipped = sorted({r["skipped"] for r in rs if r.get("skipped")})
    if skipped:
      entry["skipped"] = "; ".join(skipped)
    summary.append(entry)
  return {"meta": meta, "rows": rows, "summary": summary}


def _cell(entry: dict) -> str:
  if entry["mean"] is None:
    return "not run"
  sd = "" if entry["sd"] is None else f" ± {100 * entry['sd']:.1f}"
  return f"{100 * entry['mean']:.1f}{sd}"


def markdown(result: dict) -> str:
  meta, summary = result["meta"], result["summary"]
  ks = meta["ks"]
  lines = ["# TART evaluation", "",
           f"Head: step {meta['head_step']}, {meta['head']['layers']} layers, width {meta['head']['width']}, "
           f"{meta['head']['heads']} heads, d = {meta['head']['input_dim']}. Accuracy (%) on up to "
           f"{meta['test_size']} queries per draw, mean ± sd over seeds {meta['seeds']}.", ""]
  if meta.get("command"):
    lines += [f"Command: `{meta['command']}`", ""]
  by_dataset = collections.defaultdict(list)
  for entry in summary:
    by_dataset[entry["dataset"]].append(entry)
  skipped = []
  for dataset, entries in by_dataset.items():
    lines += [f"## {dataset}", "", "| method | " + " | ".join(f"k={k}" for k in ks) + " |",
              "|---|" + "---|" * len(ks)]
    methods = sorted({e["method"] for e in entries}, key=_order)
    for method in methods:
      cells = {e["k"]: e for e in entries if e["method"] == method}
      lines.append(f"| {method} | " + " | ".join(_cell(cells[k]) if k in cells else "" for k in ks) + " |")
      skipped += [f"{dataset}, {method}, k={k}: {cells[k]['skipped']}" for k in ks
                  if k in cells and cells[k].get("skipped")]
    lines.append("")
  used = sorted({e["method"] for e in summary}, key=_order)
  lines += ["Methods:", ""] + [f"- `{m}`: {METHOD_NOTES.get(m, m)}" for m in used] + [""]
  if skipped:
    lines += ["Not run (the k-example prompt is longer than the LM's positions):", ""] + [f"- {s}" for s in skipped]
  return "\n".join(lines) + "\n"


def plot(result: dict, path: str) -> None:
  datasets = list(dict.fromkeys(e["dataset"] for e in result["summary"]))
  cols = min(3, len(datasets))
  rows = -(-len(datasets) // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
  for ax, dataset in zip(axes.flat, datasets):
    entries = [e for e in result["summary"] if e["dataset"] == dataset and e["mean"] is not None]
    for method in sorted({e["method"] for e in entries}, key=_order):
      pts = sorted((e["k"], e["mean"], e["sd"] or 0.0) for e in entries if e["method"] == method)
      k, mean, sd = (np.array(v, float) for v in zip(*pts))
      style = "-" if method.startswith("tart") else ("--" if method.startswith("logreg") else ":")
      ax.plot(k, 100 * mean, style, marker="o", ms=3, label=method)
      ax.fill_between(k, 100 * (mean - sd), 100 * (mean + sd), alpha=0.15)
    ax.set_xscale("log", base=2)
    ax.set_title(dataset, fontsize=9)
    ax.set_xlabel("k (labelled examples in context)")
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize=6)
  for ax in list(axes.flat)[len(datasets):]:
    ax.axis("off")
  fig.tight_layout()
  buf = io.BytesIO()
  fig.savefig(buf, format="png", dpi=120)
  io_paths.write_bytes(path, buf.getvalue())
  plt.close(fig)


def write(result: dict, out: layouts.TartEvalDir) -> None:
  out.root.mkdir(parents=True, exist_ok=True)
  io_paths.write_text(out.report_json, json.dumps(result, indent=2, sort_keys=True))
  io_paths.write_text(out.report_md, markdown(result))
  plot(result, os.fspath(out.plot))
