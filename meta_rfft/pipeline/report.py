"""DIR/report.md, report.json and accuracy_vs_length.png: the experiment across seeds, tasks and arms.

What it holds: per held-out task, accuracy against length for every arm (mean over seeds, the band from the
worst to the best seed), Max_Len_90% (mean and sample standard deviation over seeds, with every seed's
value), accuracy at the longest length, in-distribution accuracy and the loop-count error by length; the
configured targets and whether they hold; each arm's configuration and CPU time; the HF export check.
"""
from __future__ import annotations

import io
import json
import math
import os
from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only, never a display
import matplotlib.pyplot as plt  # noqa: E402

from meta_rfft.evaluate.examples import lengths_of  # noqa: E402
from meta_rfft.evaluate.length.report import shade_training  # noqa: E402
from meta_rfft.pipeline import summary as summary_lib  # noqa: E402
from meta_rfft.pipeline.config import ARM_LABELS  # noqa: E402
from meta_rfft.pipeline.layout import Layout  # noqa: E402

_COLORS = {"meta": "tab:blue", "vanilla": "tab:red", "control": "tab:green", "replay": "tab:purple"}
_STYLES = {"meta": "-", "vanilla": "--", "control": "-.", "replay": ":"}


def _pct(x: float | None) -> str:
  return "-" if x is None else f"{100 * x:.0f}"


def _shown_lengths(lengths: list[int]) -> list[int]:
  if len(lengths) <= 16:
    return lengths
  return sorted({lengths[0], lengths[-1]} | {n for n in lengths if n <= 10 or n % 5 == 0})


def write_plot(path: str, summary: Mapping[str, Any], arms: Sequence[str], adapt_lengths: Sequence[int],
               seeds: int) -> None:
  tasks = list(summary["tasks"])
  cols = min(3, len(tasks))
  rows = math.ceil(len(tasks) / cols)
  fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.6 * rows), squeeze=False)
  for ax, task in zip(axes.flat, tasks):
    shade_training(ax, adapt_lengths)
    for arm in arms:
      curve = summary["tasks"][task][arm]["accuracy"]
      xs = sorted(int(n) for n in curve)
      get = lambda key: [100 * curve[n][key] for n in xs]  # noqa: E731
      ax.plot(xs, get("mean"), _STYLES[arm], color=_COLORS[arm], marker="o", markersize=3, label=ARM_LABELS[arm])
      if seeds > 1:
        ax.fill_between(xs, get("min"), get("max"), color=_COLORS[arm], alpha=0.18, linewidth=0)
    ax.set_title(task, fontsize=10)
    ax.set_xlabel("length")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-3, 103)
    ax.grid(alpha=0.3)
  for ax in list(axes.flat)[len(tasks):]:
    ax.axis("off")
  axes.flat[0].legend(fontsize=7, loc="best")
  band = f"; band: worst to best of {seeds} seeds" if seeds > 1 else ""
  fig.suptitle(f"accuracy vs length: mean over seeds{band}", fontsize=10)
  fig.tight_layout()
  buf = io.BytesIO()
  fig.savefig(buf, format="png", dpi=110)
  plt.close(fig)
  with open(path + ".tmp", "wb") as f:
    f.write(buf.getvalue())
  os.replace(path + ".tmp", path)


def _accuracy_table(summary: Mapping[str, Any], arms: Sequence[str]) -> str:
  lengths = _shown_lengths(sorted({int(n) for t in summary["tasks"].values() for a in t.values()
                                   for n in a["accuracy"]}))
  out = ["| task | arm | " + " | ".join(f"len {n}" for n in lengths)
         + " | Max_Len_90% (mean ± sd) | per seed | acc@longest | in-dist. |",
         "|---|---|" + "---|" * len(lengths) + "---|---|---|---|"]
  for task, block in summary["tasks"].items():
    for arm in arms:
      a = block[arm]
      m, ind = a["max_len_90"], a["in_distribution"]
      out.append(f"| {task} | {ARM_LABELS[arm]} | "
                 + " | ".join(_pct(a["accuracy"][n]["mean"]) if n in a["accuracy"] else "-" for n in lengths)
                 + f" | {m['mean']:.1f} ± {m['std']:.1f} | {', '.join(f'{v:g}' for v in m['values'])} | "
                 f"{_pct(a['acc_longest']['mean'])} | {_pct(ind['mean'] if ind else None)} |")
  return "\n".join(out)


def _overall_table(summary: Mapping[str, Any], arms: Sequence[str]) -> str:
  out = ["| arm | mean Max_Len_90% | per task | in-distribution (mean, worst) |", "|---|---|---|---|"]
  for arm in arms:
    a = summary["arms"][arm]
    out.append(f"| {ARM_LABELS[arm]} | {a['max_len_90_mean']:.2f} | "
               + ", ".join(f"{t} {v:.1f}" for t, v in a["max_len_90_task_means"].items())
               + f" | {_pct(a['in_distribution_mean'])}%, {_pct(a['in_distribution_min'])}% |")
  return "\n".join(out)


def _loop_table(summary: Mapping[str, Any], arms: Sequence[str], adapt_max: int) -> str:
  lengths = _shown_lengths(sorted({int(n) for t in summary["tasks"].values() for a in t.values()
                                   for n in a["loop_error_mean"] if int(n) > adapt_max}))
  if not lengths:
    return "(no lengths beyond the adaptation lengths were evaluated)"
  out = ["| task | arm | " + " | ".join(f"len {n}" for n in lengths) + " |", "|---|---|" + "---|" * len(lengths)]
  for task, block in summary["tasks"].items():
    for arm in arms:
      a = block[arm]
      cell = lambda n: (f"{a['loop_error_mean'][n]:.1f} ({_pct(a['loop_error_rate'][n])}%)"  # noqa: E731
                        if n in a["loop_error_mean"] else "-")
      out.append(f"| {task} | {ARM_LABELS[arm]} | " + " | ".join(cell(n) for n in lengths) + " |")
  return "\n".join(out)


def _stage_line(stage) -> str:
  return (f"{stage.steps} steps of {stage.batch_size} x {stage.seq_len} tokens, lr {stage.learning_rate:g} "
          f"({stage.schedule}, warmup {stage.warmup_steps}), adapter {stage.adapter}"
          + (f" rank {stage.rank}" if stage.adapter != "none" else ""))


def arm_configs(cfg, facts: Mapping[str, Any]) -> dict[str, str]:
  d = cfg.data
  adapt = (f"adaptation on lengths {d.adapt_lengths} ({d.adapt_per_length} instances per length), "
           f"{_stage_line(cfg.adapt)}")
  replay = (f"; a fraction {cfg.replay.fraction:g} of the adaptation's examples replayed from the pretraining tasks "
            f"at lengths {d.pretrain_lengths}")
  if facts.get("pretrained") == "shipped":
    start = {"meta": "the shipped `rf_pretrained`", "vanilla": "the shipped `base`",
             "control": "the shipped `rf_control`", "replay": "the shipped `rf_pretrained`"}
    return {arm: f"{start[arm]}; then {adapt}" + (replay if arm == "replay" else "") for arm in start}
  pretrain = (f"RF-pretraining on {len(facts['pretrain'])} rf_pretrain tasks ({', '.join(facts['pretrain'])}) at "
              "lengths {lengths}, " + f"{d.pretrain_per_length} instances per length, {_stage_line(cfg.pretrain)}")
  base = "the base model"
  if int(cfg.base_pretrain.steps):
    base += (f" (trained on the recall corpus, values of up to {d.recall_max_length} elements: "
             f"{_stage_line(cfg.base_pretrain)})")
  long = base + "; " + pretrain.format(lengths=d.pretrain_lengths) + "; then " + adapt
  return {"meta": long, "vanilla": base + "; " + adapt,
          "control": base + "; " + pretrain.format(lengths=d.control_lengths) + "; then " + adapt,
          "replay": long + replay}


def cpu_times(records: Mapping[str, Mapping[str, Any]], seeds: Sequence[int], tasks: Sequence[str],
              arms: Sequence[str]) -> dict[str, dict[str, float]]:
  """CPU seconds per arm, summed over seeds: pretraining (shared by the tasks), adaptations, evaluations."""
  def cpu(name):
    r = records.get(name)
    return float(r["cpu_seconds"] or 0.0) if r else 0.0
  pretrain_of = {"meta": "rf_pretrain", "control": "rf_pretrain_short", "replay": "rf_pretrain"}
  base = sum(cpu(f"seed_{s}/base_recall") for s in seeds)  # every arm starts from it
  out = {}
  for arm in arms:
    pre = sum(cpu(f"seed_{s}/{pretrain_of[arm]}") for s in seeds) if arm in pretrain_of else 0.0
    adapt = sum(cpu(f"seed_{s}/{t}/{arm}") for s in seeds for t in tasks)
    ev = sum(cpu(f"seed_{s}/{t}/{arm}/eval") for s in seeds for t in tasks)
    out[arm] = {"base": base, "pretrain": pre, "adapt": adapt, "eval": ev, "total": base + pre + adapt + ev}
  return out


def stages_in_report(records: Mapping[str, Mapping[str, Any]], seeds: Sequence[int],
                     arms: Sequence[str]) -> dict[str, Mapping[str, Any]]:
  """The stage records of this report's seeds and arms, and the shared ones (tokenizer, export): DIR/stages/ also
  keeps those of earlier runs with other seeds or arms, which this report's totals must not count."""
  pretrain_arm = {"rf_pretrain": "meta", "rf_pretrain_short": "control"}
  seed_dirs = {f"seed_{s}" for s in seeds}

  def reported(name: str) -> bool:
    parts = name.split("/")  # seed_S/<seed stage>, seed_S/<task>/<arm>[/eval], or a shared stage
    if not parts[0].startswith("seed_"):
      return True
    arm = parts[2] if len(parts) >= 3 else pretrain_arm.get(parts[1]) if len(parts) == 2 else None
    return parts[0] in seed_dirs and (arm is None or arm in arms)
  return {name: record for name, record in records.items() if reported(name)}


def write(lay: Layout, cfg, facts: Mapping[str, Any], *, hf_check: Mapping[str, Any] | None,
          stage_records: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
  seeds, tasks, arms = facts["seeds"], facts["heldout"], facts["arms"]
  adapt_lengths = lengths_of(cfg.data.adapt_lengths)
  summary = summary_lib.collect(lay, seeds=seeds, tasks=tasks, arms=arms, fmt=cfg.format,
                                adapt_lengths=adapt_lengths)
  targets = summary_lib.check_targets(summary, cfg.targets.to_dict())
  configs = arm_configs(cfg, facts)
  stage_records = stages_in_report(stage_records, seeds, arms)
  cpu = cpu_times(stage_records, seeds, tasks, arms)
  total_cpu = sum(float(r["cpu_seconds"] or 0) for r in stage_records.values())
  total_wall = sum(float(r["seconds"]) for r in stage_records.values())
  write_plot(lay.report("png"), summary, arms, adapt_lengths, len(seeds))
  acc_table = _accuracy_table(summary, arms)
  lines = [
      f"# Meta-RFFT experiment: {len(tasks)} held-out task(s), {len(seeds)} seed(s), arms "
      + ", ".join(ARM_LABELS[a] for a in arms), "",
      f"Base model: {facts['base']}. Trace format: `{cfg.format}`. Position ids in training and decoding: "
      f"{cfg.data.positions}" + (f" (drawn from [0, {cfg.data.position_range}))" if cfg.data.positions == "random"
                                 else "") + f". Seeds {', '.join(map(str, seeds))} (each: "
      + ("the adaptation's data order and adapter initialisation; the starting models are the same for all"
         if facts.get("pretrained") == "shipped" else "base-model initialisation and data order")
      + "; the task instances are the same for all).", "",
      f"Evaluation: lengths {cfg.eval.lengths}, {cfg.eval.samples_per_length} test instances per length and task, "
      "greedy decoding with the KV cache, exact match of the answer after `So the answer is`.", "",
      "## Max_Len_90% by arm (mean over tasks and seeds)", "", _overall_table(summary, arms), "",
      "## Accuracy (%) by length, mean over seeds", "", acc_table, "",
      "![accuracy vs length](accuracy_vs_length.png)", "",
      "## Loop-count error beyond the adaptation lengths", "",
      "Mean |\"enter the loop\" decisions traced - iterations the rule runs| over seeds (share of samples "
      "miscounting):", "", _loop_table(summary, arms, max(adapt_lengths)), "",
  ]
  if targets:
    lines += ["## Targets", ""] + [
        f"- {t['target']}: {'-' if t['value'] is None else round(t['value'], 3)}: "
        + ("holds" if t["holds"] else "**does not hold**") for t in targets] + [""]
  lines += ["## Arms: configuration and CPU time (all seeds)", ""]
  for arm in arms:
    c = cpu[arm]
    lines.append(f"- **{ARM_LABELS[arm]}**: {configs[arm]}. CPU: {c['total'] / 60:.1f} min (base "
                 f"{c['base'] / 60:.1f}, RF-pretraining {c['pretrain'] / 60:.1f}, adaptations {c['adapt'] / 60:.1f}, "
                 f"evaluations {c['eval'] / 60:.1f}).")
  lines += ["", f"Whole run: {total_wall / 60:.1f} min wall-clock, {total_cpu / 60:.1f} min CPU (user + system "
            "of this process, all threads; the finished stages' records are in stages/).", ""]
  if hf_check:
    lines += [f"HF export ({hf_check['export_dir']}): loads in transformers; prompt tokenization identical: "
              f"{hf_check['same_tokenization']}; greedy tokens identical to ours ({hf_check.get('positions')} "
              f"position ids) on {hf_check['rows_equal']}/{hf_check['prompts']} prompts "
              f"({hf_check['tokens_compared']} tokens): " + ("PASSED" if hf_check["passed"] else "FAILED") + ".", ""]
  md = "\n".join(lines)
  payload = {"config": cfg.to_dict(), "facts": dict(facts), "summary": summary, "targets": targets,
             "arm_configs": configs, "cpu_seconds": cpu, "stages": dict(stage_records), "hf_check": hf_check}
  for ext, text in (("md", md), ("json", json.dumps(payload, indent=2, default=str))):
    with open(lay.report(ext) + ".tmp", "w") as f:
      f.write(text)
    os.replace(lay.report(ext) + ".tmp", lay.report(ext))
  return {"md": lay.report("md"), "json": lay.report("json"), "png": lay.report("png"), "table": acc_table}
