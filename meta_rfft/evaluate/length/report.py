"""RUN/eval/report.json, report.md and accuracy_vs_length.png from the summary of metrics.summarize."""
from __future__ import annotations

import io
import json
import os
from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only, never a display
import matplotlib.pyplot as plt  # noqa: E402

from meta_rfft import io_paths, layouts  # noqa: E402


def _pct(x: float | None) -> str:
  return "-" if x is None else f"{100 * x:.0f}"


def _num(x: float | None) -> str:
  return "-" if x is None else f"{x:.2f}"


def shade_training(ax, train_lengths: Sequence[int]) -> None:
  if train_lengths:
    ax.axvspan(min(train_lengths) - 0.5, max(train_lengths) + 0.5, color="0.85", zorder=0,
               label=f"training lengths {min(train_lengths)}-{max(train_lengths)}")


def write_plot(path: str, curves: Mapping[str, Mapping[str, float]], train_lengths: Sequence[int],
               title: str) -> None:
  """One curve per key of `curves` ({label: {length: accuracy}}), training lengths shaded."""
  fig, ax = plt.subplots(figsize=(7, 4.2))
  shade_training(ax, train_lengths)
  styles = ("-", "--", "-.", ":")  # curves that coincide (e.g. both 0% past training) stay distinguishable
  for i, (label, curve) in enumerate(curves.items()):
    points = sorted((int(k), v) for k, v in curve.items())  # keys may be strings sorted as text ("10" < "2")
    ax.plot([x for x, _ in points], [100 * v for _, v in points], linestyle=styles[i % len(styles)],
            marker="os^vD"[i % 5], markersize=4, label=label)
  ax.set_xlabel("length")
  ax.set_ylabel("accuracy (%)")
  ax.set_ylim(-3, 103)
  ax.set_title(title)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7, loc="best")
  fig.tight_layout()
  save_figure(fig, path)


def save_figure(fig, path: str) -> None:
  """Writes `fig` as a PNG and closes it; rendered in memory, then written whole (the folder may be on an
  object store)."""
  buf = io.BytesIO()
  fig.savefig(buf, format="png", dpi=110)
  plt.close(fig)
  io_paths.write_bytes(path, buf.getvalue())


def markdown(summary: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
  lines = [f"# Evaluation of {meta.get('checkpoint', '?')}", ""]
  lines.append(f"{meta.get('samples', 0)} samples; greedy decoding; exact match of the answer after "
               f"`So the answer is`. Training lengths: {meta.get('train_lengths', '-')}.")
  lines.append("")
  for fmt, block in summary["formats"].items():
    tasks = block["tasks"]
    lengths = sorted({int(k) for t in tasks.values() for k in t["lengths"]})
    lines += [f"## Format `{fmt}`", "",
              "| task | " + " | ".join(str(n) for n in lengths) + " | acc@longest | ACC_Len30 | Max_Len_90% |",
              "|---|" + "---|" * len(lengths) + "---|---|---|"]
    for task, t in tasks.items():
      cells = [_pct(t["lengths"].get(str(n), {}).get("accuracy")) for n in lengths]
      lines.append(f"| {task} | " + " | ".join(cells)
                   + f" | {_pct(t['acc_longest'])} | {_pct(t['acc_len30'])} | {t['max_len_90']} |")
    o = block["overall"]
    curve = o["accuracy_by_length"]
    lines.append("| **mean** | " + " | ".join(_pct(curve.get(str(n))) for n in lengths)
                 + f" | {_pct(o['acc_longest'])} | {_pct(o['acc_len30'])} | {_num(o['max_len_90'])} |")
    lines.append("")
    if o.get("tokens_per_forward") is not None:
      by_length = {}
      for t in tasks.values():
        for n, e in t["lengths"].items():
          if "tokens_per_forward" in e:
            by_length.setdefault(int(n), []).append(e["tokens_per_forward"])
      lines += [f"Tokens generated per model call ({meta.get('decoding', 'greedy')} decoding), "
                f"{o['tokens_per_forward']:.2f} overall; by length, mean over tasks: "
                + ", ".join(f"{n}: {sum(v) / len(v):.2f}" for n, v in sorted(by_length.items())), ""]
    loop_rows = [(task, t) for task, t in tasks.items()
                 if any("loop_error_mean" in e for e in t["lengths"].values())]
    if loop_rows:
      lines += ["Loop-count error (mean |iterations traced - iterations the rule runs|; share of samples wrong):",
                "", "| task | " + " | ".join(str(n) for n in lengths) + " |", "|---|" + "---|" * len(lengths)]
      for task, t in loop_rows:
        cells = []
        for n in lengths:
          e = t["lengths"].get(str(n))
          cells.append("-" if not e or "loop_error_mean" not in e else
                       f"{e['loop_error_mean']:.2f} ({_pct(e['loop_error_rate'])}%)")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
      lines.append("")
  lines += ["Accuracies in %. ACC_Len30: accuracy at length 30. Max_Len_90%: longest length up to which "
            "accuracy stays >= 90%.", "", "![accuracy vs length](accuracy_vs_length.png)", ""]
  return "\n".join(lines)


def write_reports(eval_dir: str, summary: Mapping[str, Any], meta: Mapping[str, Any],
                  train_lengths: Sequence[int]) -> dict[str, str]:
  payload = {"meta": dict(meta), **summary}
  layout = layouts.EvalDir(io_paths.resolve(eval_dir))
  paths = {p.name: os.fspath(p) for p in (layout.report_json, layout.report_md, layout.plot)}
  io_paths.write_text(paths["report.json"], json.dumps(payload, indent=2, sort_keys=True))
  io_paths.write_text(paths["report.md"], markdown(summary, meta))
  curves = {}
  multi = len(summary["formats"]) > 1
  for fmt, block in summary["formats"].items():
    for task, t in block["tasks"].items():
      curves[f"{task} ({fmt})" if multi else task] = {k: e["accuracy"] for k, e in t["lengths"].items()}
  write_plot(paths["accuracy_vs_length.png"], curves, train_lengths, "accuracy vs length")
  return paths
