"""DIR/report.md: what the main job ran, Meta-RFFT against vanilla RFFT, the HF export check, stage timings."""
from __future__ import annotations

import json
import os
from typing import Any, Mapping, Sequence


def in_distribution(report_json: str, fmt: str, task: str, lengths: Sequence[int]) -> float | None:
  """Mean accuracy of `task` over the training lengths that were evaluated."""
  with open(report_json) as f:
    rep = json.load(f)
  per_length = rep["formats"][fmt]["tasks"][task]["lengths"]
  accs = [per_length[str(n)]["accuracy"] for n in lengths if str(n) in per_length]
  return sum(accs) / len(accs) if accs else None


def loop_error_beyond(report_json: str, fmt: str, task: str, train_lengths: Sequence[int]) -> dict | None:
  """Mean loop-count error and share of samples miscounting, over the lengths beyond training."""
  with open(report_json) as f:
    per_length = json.load(f)["formats"][fmt]["tasks"][task]["lengths"]
  rows = [e for n, e in per_length.items() if int(n) > max(train_lengths) and "loop_error_mean" in e]
  if not rows:
    return None
  count = sum(e["count"] for e in rows)
  return {"mean": sum(e["loop_error_mean"] * e["count"] for e in rows) / count,
          "rate": sum(e["loop_error_rate"] * e["count"] for e in rows) / count}


def _pct(x: float | None) -> str:
  return "-" if x is None else f"{100 * x:.1f}%"


def write(path: str, *, cfg, facts: Mapping[str, Any], table: str, in_dist: Mapping[str, float | None],
          loops: Mapping[str, dict | None], hf_check: Mapping[str, Any] | None, timings: Mapping[str, float]) -> str:
  goal = 0.9
  meta_acc = in_dist.get("Meta-RFFT")
  lines = [
      f"# Meta-RFFT main job: held-out task `{facts['heldout']}`", "",
      f"Base model: {facts['base']}. RF-pretraining: {len(facts['pretrain'])} tasks "
      f"({', '.join(facts['pretrain'])}), lengths {cfg.data.pretrain_lengths}, {cfg.pretrain.steps} steps of "
      f"batch {cfg.pretrain.batch_size} ({cfg.pretrain.adapter}). Adaptation: `{facts['heldout']}` lengths "
      f"{cfg.data.adapt_lengths}, {cfg.adapt.steps} steps of batch {cfg.adapt.batch_size} ({cfg.adapt.adapter}), "
      "once from the RF-pretrained model (Meta-RFFT) and once from the base model (vanilla RFFT).", "",
      f"Evaluation: lengths {cfg.eval.lengths}, {cfg.eval.samples_per_length} test instances per length, greedy "
      "decoding with the KV cache, exact match of the answer after `So the answer is`.", "",
      table, "", "![accuracy vs length](compare.png)", "",
      "In-distribution accuracy (mean over the adaptation lengths): "
      + ", ".join(f"{k} {_pct(v)}" for k, v in in_dist.items()) + ".", "",
      "Loop-count error beyond the training lengths (mean |iterations traced - iterations the rule runs|; "
      "share of samples that miscount): " + ", ".join(
          f"{k} {v['mean']:.2f} ({_pct(v['rate'])})" for k, v in loops.items() if v) + ".", "",
      (f"Goal (>= {100 * goal:.0f}% in distribution for the Meta-RFFT model): "
       + ("reached." if meta_acc is not None and meta_acc >= goal else f"NOT reached ({_pct(meta_acc)}).")), "",
  ]
  if hf_check:
    lines += [f"HF export ({hf_check['export_dir']}): loads in transformers; prompt tokenization identical: "
              f"{hf_check['same_tokenization']}; greedy tokens identical to ours on {hf_check['rows_equal']}/"
              f"{hf_check['prompts']} prompts ({hf_check['tokens_compared']} tokens): "
              + ("PASSED" if hf_check["passed"] else "FAILED") + ".", ""]
  total = sum(timings.values())
  lines += ["Stage times (this machine): " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
            + f"; total {total / 60:.1f} min.", "",
            "Per-model details: adapt_meta/eval/report.md, adapt_vanilla/eval/report.md (samples.jsonl beside).", ""]
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    f.write("\n".join(lines))
  os.replace(tmp, path)
  return path
