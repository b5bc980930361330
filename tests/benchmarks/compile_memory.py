"""Benchmark: per-device memory of the paper's two training recipes for Qwen3-8B and Gemma 3 4B on a TPU v5e-8
and a v5p-8, as XLA's TPU compiler reports it (`compile_only` with `compile_topology`: libtpu, no TPU).

  pip install -e '.[tpu]'   # libtpu; a separate environment keeps it away from the CPU test suite
  python tests/benchmarks/compile_memory.py

Recipes: configs/rf_pretrain.py (full fine-tuning, batch 256 x 4096 tokens, float32 master weights, bfloat16
compute, full remat) and configs/adapt.py (PiSSA rank 8, batch 32 x 4096). Models: the architectures of
tests/model/hub_configs/ (no weights are read). Each combination is compiled with the config's mesh (fsdp over
every device) at micro_batches = 1, 2, 4, ... until it fits or the micro-batch holds one sequence per device;
every try is kept. A compile that cannot fit is refused by XLA itself (RESOURCE_EXHAUSTED), which compile_only
reports as DOES NOT FIT. Each run is the trainer's own command, in its own process. Writes
tests/benchmarks/results/compile_memory.json and prints the docs/running_at_scale.md table.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "compile_memory.json")
MODELS = {"Qwen3-8B": "tests/model/hub_configs/qwen3-8b.json",
          "Gemma 3 4B": "tests/model/hub_configs/gemma-3-4b-text.json"}
RECIPES = {"RF-pretraining (full fine-tune)": ("configs/rf_pretrain.py", 256),
           "PiSSA r8 adaptation": ("configs/adapt.py", 32)}
TOPOLOGIES = {"v5e-8 (8 chips x 16 GiB)": ("v5e:2x4", 8), "v5p-8 (4 chips x 95 GiB)": ("v5p:2x2x1", 4)}
_TOTAL = re.compile(r"total per device\s+.*\((\d+) bytes\)")
_ARGS = re.compile(r"arguments\s+.*\((\d+) bytes\)")


def compile_once(config: str, hf_config: str, topology: str, micro_batches: int) -> dict:
  with tempfile.TemporaryDirectory() as workdir:
    cmd = [sys.executable, "-m", "meta_rfft.train", f"--config={config}", f"--workdir={workdir}",
           "--config.init.checkpoint=", f"--config.model.hf_config={hf_config}", "--config.compile_only=true",
           f"--config.compile_topology={topology}", f"--config.train.micro_batches={micro_batches}"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
  out = proc.stdout + proc.stderr
  verdict = [line for line in out.splitlines() if line.startswith("[compile_only] ")]
  if proc.returncode not in (0, 1) or not verdict:
    raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{out[-3000:]}")
  total, args = _TOTAL.search(out), _ARGS.search(out)
  return {"micro_batches": micro_batches, "fits": proc.returncode == 0, "compile_s": seconds,
          "total_per_device_bytes": int(total.group(1)) if total else None,
          "arguments_bytes": int(args.group(1)) if args else None, "verdict": verdict[-1],
          "command": "python " + " ".join(cmd[1:]).replace(workdir, "/tmp/check")}


def cell(entry: dict) -> str:
  last = entry["tries"][-1]
  gib = lambda b: f"{b / 2 ** 30:.2f} GiB"  # noqa: E731
  if last["fits"]:
    return f"k = {last['micro_batches']}: **{gib(last['total_per_device_bytes'])}, fits**"
  if last["total_per_device_bytes"] is not None:
    return f"k = {last['micro_batches']}: {gib(last['total_per_device_bytes'])}, **does not fit**"
  temporaries = re.search(r"HLO temporaries \(([0-9.]+G)\)", last["verdict"])
  needs = f", XLA needs {temporaries.group(1)} of temporaries alone" if temporaries else ""
  return f"k = {last['micro_batches']} (one sequence per device): **does not fit**{needs}"


def table(entries: list[dict]) -> str:
  lines = ["| model | recipe | " + " | ".join(TOPOLOGIES) + " |", "|---|---|" + "---|" * len(TOPOLOGIES)]
  for model in MODELS:
    for recipe in RECIPES:
      cells = [cell(e) for m in TOPOLOGIES for e in entries
               if (e["model"], e["recipe"], e["machine"]) == (model, recipe, m)]
      lines.append(f"| {model} | {recipe} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--out", default=RESULTS)
  args = p.parse_args()
  entries = []
  for model, hf_config in MODELS.items():
    for recipe, (config, batch) in RECIPES.items():
      for machine, (topology, devices) in TOPOLOGIES.items():
        tries, k = [], 1
        while True:
          tries.append(compile_once(config, hf_config, topology, k))
          print(f"{model}, {recipe}, {machine}: {tries[-1]['verdict']}", flush=True)
          if tries[-1]["fits"] or batch // (2 * k) < devices:
            break
          k *= 2
        entries.append({"model": model, "recipe": recipe, "machine": machine, "topology": topology,
                        "global_batch": batch, "tries": tries})
  os.makedirs(os.path.dirname(args.out), exist_ok=True)
  with open(args.out, "w") as f:
    json.dump({"entries": entries}, f, indent=2)
  print("\n" + table(entries))
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
