"""A shipped model's card: MODEL/card.json (the facts, as data), MODEL/card.md (the same for a reader) and
MODEL/loss.png (the training loss of every stage that made it). `job=models` writes them beside the exported
HF files; tests/pipeline/test_shipped_models.py re-derives a card's config from its command.

card.json holds: name, summary, command, config (the resolved config the command runs), architecture (with the
parameter count), storage_dtype, tokenizer (vocabulary size and tokenizer.json's SHA-256), training (one entry per
stage: its data, steps, batch, tokens, learning rate, wall-clock hours of its steps, first and last loss) and
accuracy (per task and length on test instances, greedy decoding, and each instance's result) with the mastery
check of its trained lengths.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only, never a display
import matplotlib.pyplot as plt  # noqa: E402

from meta_rfft import io_paths, layouts  # noqa: E402
from meta_rfft.evaluate.examples import lengths_of  # noqa: E402

CARD_JSON, CARD_MD, LOSS_PNG = "card.json", "card.md", "loss.png"
MASTERY = 0.9  # accuracy every pretraining task must reach at every trained length


def file_sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


def step_metrics(workdir: str) -> list[dict]:
  """A trainer run's metrics.jsonl rows by step; where a resumed run logged a step again, its last row."""
  path = os.fspath(layouts.Workdir.at(workdir).metrics)
  rows: dict[int, dict] = {}
  if os.path.exists(path):
    for line in open(path, encoding="utf-8"):
      if line.strip():
        row = json.loads(line)
        if "loss" in row:
          rows[int(row["step"])] = row
  return [rows[k] for k in sorted(rows)]


def training_entry(stage: str, data: str, stage_cfg: Mapping[str, Any], workdir: str) -> dict:
  """One training stage as the card states it; the numbers are read from the run, not from the config."""
  rows = step_metrics(workdir)
  steps = rows[-1]["step"] if rows else 0
  return {
      "stage": stage, "data": data, "steps": steps, "batch_size": int(stage_cfg["batch_size"]),
      "seq_len": int(stage_cfg["seq_len"]), "tokens": steps * int(stage_cfg["batch_size"]) * int(stage_cfg["seq_len"]),
      "learning_rate": float(stage_cfg["learning_rate"]), "schedule": str(stage_cfg["schedule"]),
      "wall_hours": sum(float(r.get("step_time_s") or 0.0) for r in rows) / 3600,
      "first_loss": rows[0]["loss"] if rows else None, "last_loss": rows[-1]["loss"] if rows else None,
      "workdir_metrics": [[r["step"], r["loss"]] for r in rows]}


def accuracy_entry(summary: Mapping[str, Any], fmt: str, trained_lengths: str, samples_per_length: int,
                   samples: Sequence[Mapping[str, Any]]) -> dict:
  """Accuracy by task and length from an evaluation's report.json, each test instance's result (`correct`: per task
  and length, "1"/"0" by instance seed, in seed order) from its samples.jsonl rows, and whether every task reaches
  MASTERY at every trained length."""
  tasks = summary["formats"][fmt]["tasks"]
  table = {t: {int(n): e["accuracy"] for n, e in v["lengths"].items()} for t, v in sorted(tasks.items())}
  trained = lengths_of(trained_lengths) if trained_lengths else []  # a model not RF-pretrained has none
  worst = min(((acc.get(n, 0.0), t, n) for t, acc in table.items() for n in trained if n in acc), default=None)
  correct: dict[str, dict[str, dict]] = {}
  for row in sorted((r for r in samples if r["format"] == fmt), key=lambda r: (r["task"], r["length"], r["seed"])):
    cell = correct.setdefault(row["task"], {}).setdefault(str(row["length"]), {"first_seed": row["seed"], "bits": ""})
    cell["bits"] += "1" if row["correct"] else "0"
  return {"format": fmt, "samples_per_length": samples_per_length, "trained_lengths": trained_lengths,
          "tasks": {t: {str(n): a for n, a in acc.items()} for t, acc in table.items()}, "correct": correct,
          "mastery": {"threshold": MASTERY, "holds": worst is not None and worst[0] >= MASTERY,
                      "worst": None if worst is None else {"accuracy": worst[0], "task": worst[1], "length": worst[2]}}}


def write_loss_plot(path: str, training: Sequence[Mapping[str, Any]], name: str) -> None:
  fig, axes = plt.subplots(1, len(training), figsize=(5.2 * len(training), 3.4), squeeze=False)
  for ax, entry in zip(axes[0], training):
    points = entry["workdir_metrics"]
    ax.plot([p[0] for p in points], [p[1] for p in points], linewidth=0.8)
    ax.set_yscale("log")
    ax.set_title(f"{name}: {entry['stage']}", fontsize=10)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss per target token")
    ax.grid(alpha=0.3, which="both")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def _table(accuracy: Mapping[str, Any]) -> str:
  tasks = accuracy["tasks"]
  lengths = sorted({int(n) for acc in tasks.values() for n in acc})
  trained = set(lengths_of(accuracy["trained_lengths"])) if accuracy["trained_lengths"] else set()
  head = "| task | " + " | ".join(f"**{n}**" if n in trained else str(n) for n in lengths) + " |"
  lines = [head, "|---|" + "---|" * len(lengths)]
  for task, acc in tasks.items():
    lines.append(f"| {task} | " + " | ".join(f"{100 * acc[str(n)]:.0f}" if str(n) in acc else "-"
                                                for n in lengths) + " |")
  return "\n".join(lines)


def render_md(card: Mapping[str, Any]) -> str:
  a, acc = card["architecture"], card["accuracy"]
  m = acc["mastery"]
  lines = [f"# `{card['name']}`", "", card["summary"], "", "Reproduce it (every stage resumes where a killed run "
           "stopped; the card's `config` is what this command resolves to):", "", "```bash", card["command"], "```", "",
           f"- Architecture: {a['model_type']}, {a['parameters'] / 1e6:.2f}M parameters (hidden {a['hidden_size']}, "
           f"{a['num_hidden_layers']} layers, {a['num_attention_heads']} heads / {a['num_key_value_heads']} KV heads, "
           f"intermediate {a['intermediate_size']}, RoPE theta {a['rope_theta']:g}, tied embeddings).",
           f"- Stored in {card['storage_dtype']} (trained in float32; `hf_to_orbax` converts it back to float32 for "
           "training).",
           f"- Tokenizer: BPE, {card['tokenizer']['vocab_size']} tokens, tokenizer.json SHA-256 "
           f"`{card['tokenizer']['sha256']}` (the same file in every shipped model).", "", "## Training", "",
           "| stage | data | steps | batch x tokens | tokens | learning rate | wall-clock hours | loss first -> last |",
           "|---|---|---|---|---|---|---|---|"]
  for t in card["training"]:
    lines.append(f"| {t['stage']} | {t['data']} | {t['steps']} | {t['batch_size']} x {t['seq_len']} | "
                 f"{t['tokens'] / 1e6:.1f}M | {t['learning_rate']:g} ({t['schedule']}) | {t['wall_hours']:.2f} | "
                 f"{t['first_loss']:.3f} -> {t['last_loss']:.4f} |")
  lines += ["", "Wall-clock hours are the sum of the training steps' times on a 2-core CPU, other jobs sharing it at "
            "times (compiles and data builds not counted).", "", f"![training loss]({LOSS_PNG})", "",
            f"## Accuracy on test instances ({acc['format']}, greedy, {acc['samples_per_length']} per length; "
            + ("bold lengths were trained on)" if acc["trained_lengths"] else "no length was trained on)"), "",
            _table(acc), ""]
  if m["worst"] is not None:
    w = m["worst"]
    verdict = "holds" if m["holds"] else "does not hold"
    lines.append(f"Mastery (every task >= {100 * m['threshold']:.0f}% at every trained length {acc['trained_lengths']}) "
                 f"{verdict}: the lowest is {100 * w['accuracy']:.0f}% ({w['task']}, length {w['length']}).")
  return "\n".join(lines) + "\n"


def write(model_dir: str, card: Mapping[str, Any]) -> None:
  """card.json, card.md and loss.png into an exported model's folder (each written whole, then renamed)."""
  tmp_png = os.path.join(model_dir, "." + LOSS_PNG + ".tmp.png")
  write_loss_plot(tmp_png, card["training"], card["name"])
  os.replace(tmp_png, os.path.join(model_dir, LOSS_PNG))
  stored = dict(card)
  stored["training"] = [{k: v for k, v in t.items() if k != "workdir_metrics"} for t in card["training"]]
  io_paths.write_text(os.path.join(model_dir, CARD_JSON), json.dumps(stored, indent=1) + "\n")
  io_paths.write_text(os.path.join(model_dir, CARD_MD), render_md(card))


def read(model_dir: str) -> dict:
  with open(os.path.join(model_dir, CARD_JSON), encoding="utf-8") as f:
    return json.load(f)
