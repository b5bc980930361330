"""Benchmark: our batched KV-cache greedy decoding (JAX) vs Hugging Face `generate` (PyTorch, CPU).

  python tests/benchmarks/decode_throughput.py [--sizes small,medium] [--batch 32] [--new_tokens 256]

For each model size, one random-initialised Qwen2 model is built with transformers, saved, and converted with
`meta_rfft.convert.hf_to_orbax`: both frameworks decode the SAME weights. 32 prompts of random token ids
(lengths 16-64, left-padded for both), 256 new tokens each, greedy, no early stop (the EOS id is out of the
vocabulary for us; HF is told there is none), so both produce exactly batch x 256 tokens. Ours runs with the
evaluation's default layer layout (unrolled, configs/eval.py) and, for comparison, the other one; each is
compiled first (compile time reported separately) and then timed; HF is warmed up with a short generate, then timed.
Also reported: how many rows of greedy tokens agree exactly between the two (random weights are scaled up so
argmax is decisive). On a GPU the script would also time a ~1B model against the memory-bandwidth limit; on a
CPU-only machine that part is skipped with a message. Writes tests/benchmarks/results/decode_throughput.json
and prints the README table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

from meta_rfft.convert import hf_to_orbax, load_model  # noqa: E402
from meta_rfft.evaluate.config import default_eval_config  # noqa: E402
from meta_rfft.evaluate.decode import GreedyDecoder  # noqa: E402
from meta_rfft.pipeline import hf_build  # noqa: E402
from meta_rfft.sharding.mesh import make_mesh  # noqa: E402
from meta_rfft.sharding.rules import DEFAULT_RULES  # noqa: E402

EVAL_SCAN_LAYERS = bool(default_eval_config().model.scan_layers)
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "decode_throughput.json")
SIZES = {
    # the demo's model (configs/demo.py)
    "small": dict(hidden_size=128, num_layers=4, num_heads=4, num_kv_heads=2, intermediate_size=384, vocab=1024),
    # ~20M parameters
    "medium": dict(hidden_size=512, num_layers=8, num_heads=8, num_kv_heads=4, intermediate_size=1536,
                   vocab=4096),
}


def build(size: dict, root: str) -> tuple[str, str]:
  hf_dir = os.path.join(root, "hf")
  hf_build.build_qwen2(hf_dir, vocab_size=size["vocab"], eos_token_id=0, hidden_size=size["hidden_size"],
                       num_layers=size["num_layers"], num_heads=size["num_heads"],
                       num_kv_heads=size["num_kv_heads"], intermediate_size=size["intermediate_size"],
                       max_position_embeddings=1024, init_std=0.08)
  return hf_dir, hf_to_orbax(hf_dir, os.path.join(root, "ckpt"))


def prompts_for(batch: int, vocab: int, seed: int = 0) -> list[list[int]]:
  rng = np.random.default_rng(seed)
  return [rng.integers(1, vocab, size=int(n)).tolist() for n in rng.integers(16, 65, size=batch)]


def ours(ckpt: str, prompts, new_tokens: int, vocab: int, scan_layers: bool) -> tuple[list[list[int]], float, float]:
  mesh = make_mesh((1, -1, 1))
  model = load_model(ckpt, mesh, DEFAULT_RULES, scan_layers=scan_layers)
  dec = GreedyDecoder(model, eos_ids=vocab, pad_id=0, batch_size=len(prompts), mesh=mesh, rules=DEFAULT_RULES)
  t0 = time.perf_counter()
  dec.decode(prompts, new_tokens)  # compile + first run
  first = time.perf_counter() - t0
  t0 = time.perf_counter()
  out = dec.decode(prompts, new_tokens)
  return out, time.perf_counter() - t0, first


def hf(hf_dir: str, prompts, new_tokens: int) -> tuple[list[list[int]], float]:
  model = transformers.AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
  width = max(len(p) for p in prompts)
  ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
  mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
  kwargs = dict(attention_mask=mask, do_sample=False, eos_token_id=None, pad_token_id=0)
  with torch.no_grad():
    model.generate(input_ids=ids, max_new_tokens=8, min_new_tokens=8, **kwargs)  # warm-up
    t0 = time.perf_counter()
    out = model.generate(input_ids=ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, **kwargs)
    seconds = time.perf_counter() - t0
  return out[:, width:].tolist(), seconds


def run_size(name: str, batch: int, new_tokens: int) -> dict:
  size = SIZES[name]
  with tempfile.TemporaryDirectory() as root:
    hf_dir, ckpt = build(size, root)
    prompts = prompts_for(batch, size["vocab"])
    # The evaluation's own setting first (unrolled layers, configs/eval.py), then the scanned layer stack.
    our_out, our_s, first_s = ours(ckpt, prompts, new_tokens, size["vocab"], EVAL_SCAN_LAYERS)
    scan_out, scan_s, _ = ours(ckpt, prompts, new_tokens, size["vocab"], not EVAL_SCAN_LAYERS)
    assert scan_out == our_out, "scanned and unrolled decoding disagree"
    hf_out, hf_s = hf(hf_dir, prompts, new_tokens)
    n_params = sum(p.numel() for p in transformers.AutoModelForCausalLM.from_pretrained(hf_dir).parameters())
  tokens = batch * new_tokens
  assert all(len(o) == new_tokens for o in our_out) and all(len(o) == new_tokens for o in hf_out)
  return {"size": name, "params": int(n_params), **{k: v for k, v in size.items()}, "batch": batch,
          "new_tokens": new_tokens, "ours_s": our_s, "ours_first_call_s": first_s, "hf_s": hf_s,
          "ours_tokens_per_s": tokens / our_s, "hf_tokens_per_s": tokens / hf_s, "speedup": hf_s / our_s,
          "ours_scan_layers": EVAL_SCAN_LAYERS, f"ours_scan_layers_{not EVAL_SCAN_LAYERS}_tokens_per_s": tokens / scan_s,
          "rows_identical": sum(a == b for a, b in zip(our_out, hf_out))}


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--sizes", default="small,medium")
  p.add_argument("--batch", type=int, default=32)
  p.add_argument("--new_tokens", type=int, default=256)
  args = p.parse_args()
  rows = [run_size(s.strip(), args.batch, args.new_tokens) for s in args.sizes.split(",") if s.strip()]
  gpu = [d for d in jax.devices() if d.platform == "gpu"]
  gpu_note = ("no GPU visible to JAX on this machine: the ~1B-model memory-bandwidth comparison was skipped"
              if not gpu else "GPU present but the ~1B bandwidth comparison is not implemented in this run")
  print(gpu_note)
  result = {"machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                        "torch_threads": torch.get_num_threads(), "jax": jax.__version__,
                        "torch": torch.__version__, "transformers": transformers.__version__},
            "rows": rows, "gpu": gpu_note}
  os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
  with open(RESULTS, "w") as f:
    json.dump(result, f, indent=2)
  print("| model | params | batch x new tokens | ours tokens/s | HF generate tokens/s | speedup | rows identical "
        "| ours with scanned layers |")
  print("|---|---|---|---|---|---|---|---|")
  for r in rows:
    print(f"| {r['size']} (hidden {r['hidden_size']}, {r['num_layers']} layers) | {r['params'] / 1e6:.1f}M | "
          f"{r['batch']} x {r['new_tokens']} | {r['ours_tokens_per_s']:.0f} | {r['hf_tokens_per_s']:.0f} | "
          f"{r['speedup']:.1f}x | {r['rows_identical']}/{r['batch']} | "
          f"{r[f'ours_scan_layers_{not EVAL_SCAN_LAYERS}_tokens_per_s']:.0f} |")
  print(f"wrote {RESULTS}")


if __name__ == "__main__":
  main()
