"""DIR/convergence/report.json, report.md, and per task group (all, seen, heldout) a scatter of Direct against
each base-model arm (Base-D, Gold, SampleGen) with its fit, and mean accuracy against length per arm."""
from __future__ import annotations

import json
import os
from typing import Any, Mapping

import matplotlib

matplotlib.use("Agg")  # files only, never a display
import matplotlib.pyplot as plt  # noqa: E402

from meta_rfft import io_paths, layouts  # noqa: E402
from meta_rfft.evaluate.convergence import arms, stats  # noqa: E402
from meta_rfft.evaluate.examples import lengths_of
from meta_rfft.evaluate.length import report as eval_report  # noqa: E402

GROUP_TITLES = {"all": "all tasks", "seen": "tasks seen in RF-pretraining", "heldout": "held-out tasks"}


def _pct(x: float | None) -> str:
  return "-" if x is None else f"{100 * x:.0f}"


def _r(entry: Mapping[str, Any]) -> str:
  if entry["r"] is None:
    return "undefined"
  ci = "" if entry["low"] is None else f" [{entry['low']:.2f}, {entry['high']:.2f}]"
  return f"{entry['r']:.2f}{ci}"


def markdown(data: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
  shown, buckets = data["arms"], data["buckets"]
  seen = set(meta["seen_tasks"])
  lines = ["# Does fine-tuning only unlock what in-context examples already could?", "",
           f"Base model: `{meta['base']}`. Tuned runs: "
           + "; ".join(f"`{p}` ({', '.join(t)})" for p, t in meta["tuned"].items()) + ".",
           f"Zero-shot format `{meta['format']}`; demonstrations per prompt k = {', '.join(map(str, meta['ks']))}; "
           f"{meta['samples_per_length']} test questions per task and length, the same in every arm; greedy "
           f"decoding, exact match of the answer after `So the answer is`. Seen in RF-pretraining: "
           + (", ".join(meta["seen_tasks"]) or "none") + ".", "",
           "## Accuracy (%) per task and length bucket", "",
           "| task | seen | bucket | " + " | ".join(arms.title(a) for a in shown) + " |",
           "|---|---|---|" + "---|" * len(shown)]
  for task in data["groups"]["all"]:
    for b in buckets:
      cells = [_pct(data["accuracy"].get(a, {}).get(task, {}).get(b, {}).get("accuracy")) for a in shown]
      if all(c == "-" for c in cells):
        continue
      lines.append(f"| {task} | {'yes' if task in seen else 'no'} | {b} | " + " | ".join(cells) + " |")
  lines += ["", "Mean over the group's tasks:", "", "| group | bucket | " + " | ".join(arms.title(a) for a in shown)
            + " |", "|---|---|" + "---|" * len(shown)]
  for group, tasks in data["groups"].items():
    if not tasks:
      continue
    for b in buckets:
      lines.append(f"| {group} ({len(tasks)}) | {b} | "
                   + " | ".join(_pct(data["means"][group].get(a, {}).get(b)) for a in shown) + " |")
  conf = 100 * float(meta["bootstrap"]["confidence"])
  lines += ["", "## Correlation of Direct with each base-model arm", "",
            f"Coefficient and {conf:.0f}% bootstrap interval over tasks ({meta['bootstrap']['resamples']} "
            "resamples of the tasks; a resampled task brings all its cells). Over tasks: a task's accuracy is its "
            "mean over length buckets. Undefined: fewer than 3 units, or one side constant.", "",
            "| group | Direct vs | unit | n | Spearman | Pearson | Kendall | p (Spearman) |",
            "|---|---|---|---|---|---|---|---|"]
  for group, by_pair in data["correlations"].items():
    for entry in by_pair.values():
      for unit in ("over_tasks", "over_cells"):
        e = entry[unit]
        p = e["spearman"]["p"]
        lines.append(f"| {GROUP_TITLES[group]} | {arms.title(entry['x'])} | {unit.replace('over_', '')} | "
                     f"{e['spearman']['n']} | {_r(e['spearman'])} | {_r(e['pearson'])} | {_r(e['kendall'])} | "
                     + ("-" if p is None or unit == "over_cells" else f"{p:.3g}") + " |")
  if data["demonstrations"]:
    lines += ["", "## The demonstrations the tuned models wrote (SampleGen)", "",
              "Share whose answer is right (the base model sees them whether right or wrong):", "",
              "| task | demonstrations | right (%) |", "|---|---|---|"]
    for task, d in data["demonstrations"].items():
      lines.append(f"| {task} | {d['count']} | {_pct(d['accuracy'])} |")
  lines += ["", "## Figures", ""]
  for group, tasks in data["groups"].items():
    if tasks:
      lines += [f"![{GROUP_TITLES[group]}: Direct against the base-model arms](scatter_{group}.png)",
                f"![{GROUP_TITLES[group]}: accuracy against length](accuracy_{group}.png)", ""]
  return "\n".join(lines)


def scatter(path, data: Mapping[str, Any], group: str, seen: set[str]) -> None:
  # One row per kind of base-model arm (Base-D; Gold for each k; SampleGen for each k).
  kinds: dict[str, list[dict]] = {}
  for entry in data["correlations"][group].values():
    kinds.setdefault(entry["x"].rstrip("0123456789"), []).append(entry)
  cols = max(len(row) for row in kinds.values())
  fig, axes = plt.subplots(len(kinds), cols, figsize=(4.6 * cols, 4.2 * len(kinds)), squeeze=False)
  panels = []
  for r, row in enumerate(kinds.values()):
    panels += [(axes[r][c], entry) for c, entry in enumerate(row)]
    for c in range(len(row), cols):
      axes[r][c].axis("off")
  for ax, entry in panels:
    x_arm, y_arm = entry["x"], entry["y"]
    xs, ys = [], []
    for task in entry["tasks"]:
      cells = [(data["accuracy"][x_arm][task][b]["accuracy"], data["accuracy"][y_arm][task][b]["accuracy"])
               for b in data["buckets"] if b in data["accuracy"][x_arm][task] and b in data["accuracy"][y_arm][task]]
      color = "tab:blue" if task in seen else "tab:orange"
      ax.scatter([100 * c[0] for c in cells], [100 * c[1] for c in cells], s=10, alpha=0.25, color=color)
      x, y = sum(c[0] for c in cells) / len(cells), sum(c[1] for c in cells) / len(cells)
      xs.append(x)
      ys.append(y)
      ax.scatter([100 * x], [100 * y], s=40, color=color, edgecolor="black", linewidth=0.5)
      ax.annotate(task, (100 * x, 100 * y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    fit = stats.linear_fit(xs, ys)
    r = entry["over_tasks"]["spearman"]["r"]
    if fit is not None:
      ax.plot([0, 100], [fit[1] * 100, (fit[0] + fit[1]) * 100], color="black", linewidth=1,
              label=f"fit over tasks: y = {fit[0]:.2f}x + {100 * fit[1]:.0f}")
    ax.plot([0, 100], [0, 100], color="0.6", linestyle=":", linewidth=1, label="y = x")
    ax.set_xlim(-3, 103)
    ax.set_ylim(-3, 103)
    ax.set_xlabel(f"{arms.title(x_arm)} accuracy (%)")
    ax.set_ylabel(f"{arms.title(y_arm)} accuracy (%)")
    ax.set_title(f"Spearman over tasks: {'undefined' if r is None else f'{r:.2f}'}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="upper left")
  fig.suptitle(f"{GROUP_TITLES[group]}: big dots tasks, small dots task x length cells"
               + ("; blue seen, orange held out" if group == "all" else ""), fontsize=9)
  fig.tight_layout()
  eval_report.save_figure(fig, os.fspath(path))


def accuracy_curves(data: Mapping[str, Any], group: str) -> dict[str, dict[str, float]]:
  """{arm title: {length: mean accuracy over the group's tasks}}."""
  curves = {}
  for arm in data["arms"]:
    per_length: dict[str, list[float]] = {}
    for task in data["groups"][group]:
      for n, e in data["accuracy_by_length"].get(arm, {}).get(task, {}).items():
        per_length.setdefault(n, []).append(e["accuracy"])
    if per_length:
      curves[arms.title(arm)] = {n: sum(v) / len(v) for n, v in per_length.items()}
  return curves


def write(layout: layouts.ConvergenceDir, data: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, str]:
  io_paths.resolve(layout.root).mkdir(parents=True, exist_ok=True)
  paths = {"report.json": os.fspath(layout.report_json), "report.md": os.fspath(layout.report_md)}
  seen = set(meta["seen_tasks"])
  train = lengths_of(meta["train_lengths"]) if meta.get("train_lengths") else []
  for group, tasks in data["groups"].items():
    if not tasks:
      continue
    if data["correlations"].get(group):
      paths[f"scatter_{group}.png"] = os.fspath(layout.scatter(group))
      scatter(layout.scatter(group), data, group, seen)
    paths[f"accuracy_{group}.png"] = os.fspath(layout.accuracy_plot(group))
    eval_report.write_plot(os.fspath(layout.accuracy_plot(group)), accuracy_curves(data, group), train,
                           f"{GROUP_TITLES[group]}: mean accuracy vs length")
  # The summary files last: their presence says the figures beside them are this run's.
  io_paths.write_text(paths["report.json"], json.dumps({"meta": dict(meta), **data}, indent=2, sort_keys=True))
  io_paths.write_text(paths["report.md"], markdown(data, meta))
  return paths
