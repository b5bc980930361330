"""Peak host memory and speed of HF <-> Orbax conversion on a ~1 GB random Llama in several shards.

  python tests/benchmarks/convert_memory.py [--layers 16 32] [--workdir /tmp/convert_bench] [--keep]

Each conversion runs in a fresh subprocess that reports its own peak resident memory (ru_maxrss) and its
resident memory after imports (the interpreter, JAX, Orbax, TensorStore: what any conversion pays), as ratios
to the checkpoint's size on disk. The named reference is the naive import that loads every tensor at once
(safetensors.numpy.load_file on each shard) and saves the whole tree with Orbax's StandardCheckpointer: the
straightforward converter, whose peak holds the whole model. A second, deeper model (--layers) shows whether
the peak grows with the model (it should not: only the fixed cost of the libraries and one block of tensors
is resident). Writes tests/benchmarks/results/convert_memory.json and prints the docs/performance.md table.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(REPO, "tests", "benchmarks", "results", "convert_memory.json")
# With 16 layers ~246M parameters: 0.98 GB in float32; the largest single HF tensor (embedding / head) 131 MB.
ARCH = dict(vocab_size=32000, hidden_size=1024, intermediate_size=2816, num_hidden_layers=16,
            num_attention_heads=16, num_key_value_heads=4, rope_theta=500000.0, max_position_embeddings=2048,
            tie_word_embeddings=False)
SHARD = "250MB"

_PRELUDE = """
import json, os, resource, sys, time
os.environ.setdefault("JAX_PLATFORMS", "cpu")
def rss():
  with open("/proc/self/status") as f:
    return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:"))
"""

_CHILD = {
    "hf_to_orbax": """
from meta_rfft.convert import hf_to_orbax
base = rss(); t = time.time()
hf_to_orbax(sys.argv[1], sys.argv[2])
""",
    "orbax_to_hf": """
from meta_rfft.convert import orbax_to_hf
base = rss(); t = time.time()
orbax_to_hf(sys.argv[1], sys.argv[2], dtype="float32", max_shard_size="250MB")
""",
    "naive_import (reference)": """
import glob
import numpy as np
import orbax.checkpoint as ocp
from safetensors.numpy import load_file
from meta_rfft.convert import mapping
from meta_rfft.convert.checkpoint import unflatten
from meta_rfft.convert.importer import our_shapes
from meta_rfft.model.config import from_hf_config, load_hf_config
base = rss(); t = time.time()
tensors = {}
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.safetensors"))):
  tensors.update(load_file(path))
cfg = from_hf_config(load_hf_config(sys.argv[1]))
shapes = our_shapes(cfg)
flat = {}
for r in mapping.rows_for(cfg):
  names = mapping.hf_names(r, cfg)
  if r.stacked:
    flat[r.ours] = np.stack([mapping.to_ours(tensors[n], r, shapes[r.ours][1:]) for n in names])
  else:
    flat[r.ours] = mapping.to_ours(tensors[names[0]], r, shapes[r.ours])
with ocp.StandardCheckpointer() as ckptr:
  ckptr.save(os.path.abspath(sys.argv[2]), unflatten(flat))
""",
}
_EPILOGUE = """
seconds = time.time() - t
print("RESULT " + json.dumps({"peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                              "rss_after_imports": base, "seconds": seconds}))
"""


def dir_bytes(path: str) -> int:
  return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def build_model(hf_dir: str, layers: int) -> None:
  code = textwrap.dedent(f"""
      import torch, transformers
      torch.manual_seed(0)
      cfg = transformers.LlamaConfig(**{dict(ARCH, num_hidden_layers=layers)!r})
      model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
      with torch.no_grad():
        for p in model.parameters():
          p.normal_(0.0, 0.02)
      model.save_pretrained({hf_dir!r}, max_shard_size={SHARD!r})
      """)
  subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def run_child(kind: str, src: str, dst: str) -> dict:
  code = _PRELUDE + _CHILD[kind] + _EPILOGUE
  proc = subprocess.run([sys.executable, "-c", code, src, dst], cwd=REPO, capture_output=True, text=True)
  if proc.returncode:
    raise RuntimeError(f"{kind} failed:\n{proc.stderr[-3000:]}")
  line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT "))
  return json.loads(line[len("RESULT "):])


def bench_one(workdir: str, layers: int, reference: bool) -> dict:
  root = os.path.join(workdir, f"layers{layers}")
  hf_dir = os.path.join(root, "hf")
  build_model(hf_dir, layers)
  weights = [n for n in os.listdir(hf_dir) if n.endswith(".safetensors")]
  size = sum(os.path.getsize(os.path.join(hf_dir, n)) for n in weights)
  plan = [("hf_to_orbax", hf_dir, os.path.join(root, "ckpt")),
          ("orbax_to_hf", os.path.join(root, "ckpt"), os.path.join(root, "exported"))]
  if reference:
    plan.append(("naive_import (reference)", hf_dir, os.path.join(root, "naive")))
  rows = []
  for kind, src, dst in plan:
    r = run_child(kind, src, dst)
    rows.append(dict(conversion=kind, peak_rss_gb=r["peak_rss"] / 1e9, peak_ratio=r["peak_rss"] / size,
                     rss_after_imports_gb=r["rss_after_imports"] / 1e9,
                     above_imports_gb=(r["peak_rss"] - r["rss_after_imports"]) / 1e9,
                     above_imports_ratio=(r["peak_rss"] - r["rss_after_imports"]) / size,
                     seconds=r["seconds"], seconds_per_gb=r["seconds"] / (size / 1e9),
                     output_gb=dir_bytes(dst) / 1e9))
    print(json.dumps(rows[-1]), flush=True)
  return dict(layers=layers, checkpoint_gb=size / 1e9, safetensors_shards=len(weights), runs=rows)


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--layers", type=int, nargs="+", default=[16, 32],
                      help="model depths; the first gets the naive reference too")
  parser.add_argument("--workdir", default="/tmp/convert_bench")
  parser.add_argument("--keep", action="store_true", help="keep the models and checkpoints")
  parser.add_argument("--results", default=RESULTS, help="where to write the JSON")
  args = parser.parse_args()
  shutil.rmtree(args.workdir, ignore_errors=True)
  os.makedirs(args.workdir)
  models = [bench_one(args.workdir, layers, reference=(i == 0)) for i, layers in enumerate(args.layers)]
  result = dict(arch=dict(ARCH, model_type="llama", dtype="float32"), shard_size=SHARD,
                largest_hf_tensor_gb=ARCH["vocab_size"] * ARCH["hidden_size"] * 4 / 1e9,
                machine=dict(cpus=os.cpu_count(), note="shared CPU cores; other jobs were running"),
                models=models)
  os.makedirs(os.path.dirname(os.path.abspath(args.results)), exist_ok=True)
  with open(args.results, "w") as f:
    json.dump(result, f, indent=2)
  print(f"\n{args.results}\n")
  print("| model | conversion | peak RSS | peak / checkpoint | peak above imports | s per GB |")
  print("| --- | --- | --- | --- | --- | --- |")
  for m in models:
    for r in m["runs"]:
      print(f"| {m['layers']} layers, {m['checkpoint_gb']:.2f} GB in {m['safetensors_shards']} shards | "
            f"{r['conversion']} | {r['peak_rss_gb']:.2f} GB | {r['peak_ratio']:.2f} | "
            f"{r['above_imports_gb']:.2f} GB | {r['seconds_per_gb']:.1f} |")
  if not args.keep:
    shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
  main()
