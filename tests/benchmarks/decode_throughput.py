"""Benchmark: our batched KV-cache greedy decoding (JAX) vs Hugging Face `generate` (PyTorch, CPU).

  python tests/benchmarks/decode_throughput.py [--parts sizes,traces] [--sizes small,medium] [--batch 32]
      [--new_tokens 256] [--trace_lengths 5,15,30] [--draft_tokens 4,8]

Two parts. "traces": rule-following traces (rf_traces.py trains the model once and keeps it), decoded by our
plain greedy decoder and our prompt-lookup decoder (one row per k) at batch 32, HF generate greedy at batch 32,
and HF's prompt lookup at batch 1 (all it supports) on a few of the prompts; reported: tokens/s, tokens per
model call, accuracy, float32 rows identical between the methods, and bfloat16 rows that differ. "sizes", below:
random prompts without early stop.

For each model size, one random-initialised Qwen2 model is built with transformers, saved, and converted with
`meta_rfft.convert.hf_to_orbax`: both frameworks decode the SAME weights. 32 prompts of random token ids
(lengths 16-64, left-padded for both), 256 new tokens each, greedy, no early stop (the EOS id is out of the
vocabulary for us; HF is told there is none), so both produce exactly batch x 256 tokens. Ours runs with the
evaluation's default layer layout on a CPU (unrolled, meta_rfft/evaluate/config.py) and, for comparison, the
other one; each is compiled first (compile time reported separately); HF is warmed up with a short generate.
Each is then timed over 3 calls and the fastest counts (a shared machine's load varies between calls).
Also reported: how many rows of greedy tokens agree exactly between the two (random weights are scaled up so
argmax is decisive).

Where a GPU is present (nvidia-smi and a jax CUDA plugin), the script also decodes with a ~1.1B Llama-layout
model in bfloat16 (TinyLlama's shape, random weights) on one GPU, batch 32 x 256 new tokens, and sets its
tokens/s against the memory-bandwidth limit: each step must read every weight but the input embedding, plus
the KV cache it attends over, so bytes per step / bandwidth is the fastest a step can be. The bandwidth is
measured on the device (summing a 1 GiB array) and, for known GPUs, also taken from the datasheet.
A second row decodes the same prompts with prompt-lookup speculative decoding (method="prompt_lookup", 8 draft
tokens, n-grams up to 4): its tokens/s, tokens per model call, and how many rows equal plain greedy's (equal in
exact arithmetic; in bfloat16 verifying 9 positions in one call may round differently from 9 single steps).
On a machine without a GPU that part is skipped with a message; `--bandwidth_on_cpu` runs the same code with a
small model on the CPU, to check the script itself. `--gpu_only` skips the CPU size comparison
(tests/benchmarks/on_device.sh) and writes decode_throughput_gpu.json instead, leaving the full result alone.
Writes tests/benchmarks/results/decode_throughput.json (or into --out) and prints the docs/performance.md table.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import sys
import tempfile
import time

# CPU only unless a GPU and jax's CUDA plugin are both here (naming an absent platform fails at start-up, and an
# installed libtpu would otherwise be probed).
_HAS_GPU = shutil.which("nvidia-smi") is not None and any(
    importlib.util.find_spec(m) is not None for m in ("jax_cuda12_plugin", "jax_cuda13_plugin"))
os.environ.setdefault("JAX_PLATFORMS", "cuda,cpu" if _HAS_GPU else "cpu")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

import jax.numpy as jnp  # noqa: E402
from flax import nnx  # noqa: E402

from meta_rfft.config.defaults import tiny_arch  # noqa: E402
from meta_rfft.convert import hf_to_orbax, load_model  # noqa: E402
from meta_rfft.model.config import from_hf_config  # noqa: E402
from meta_rfft.model.decoder import Decoder  # noqa: E402
from meta_rfft.evaluate.config import decode_scan_layers, default_eval_config  # noqa: E402
from meta_rfft.evaluate.decode import GreedyDecoder  # noqa: E402
from meta_rfft.pipeline import hf_build  # noqa: E402
from meta_rfft.sharding.mesh import make_mesh  # noqa: E402
from meta_rfft.sharding.placement import create_sharded  # noqa: E402
from meta_rfft.sharding.rules import DEFAULT_RULES  # noqa: E402
from train_throughput import GPU_ARCH  # noqa: E402  (the ~1.1B TinyLlama-shaped model of the MFU measurement)

REPEATS = 3  # timed calls per decoder; the fastest counts
# What the evaluation decodes the CPU comparison with (unrolled, unless configs/eval.py says otherwise).
EVAL_SCAN_LAYERS = decode_scan_layers(default_eval_config().model.scan_layers, jax.devices("cpu"))
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "decode_throughput.json")
SIZES = {
    # the demo's model (configs/demo.py)
    "small": dict(hidden_size=128, num_layers=4, num_heads=4, num_kv_heads=2, intermediate_size=384, vocab=1024),
    # ~20M parameters
    "medium": dict(hidden_size=512, num_layers=8, num_heads=8, num_kv_heads=4, intermediate_size=1536,
                   vocab=4096),
}


# HBM bandwidth in bytes/s from the vendors' datasheets (SXM parts; device_kind substrings, most specific first).
DATASHEET_BANDWIDTH = (("H200", 4.8e12), ("H100 PCIe", 2.0e12), ("H100", 3.35e12), ("A100-SXM4-80GB", 2.04e12),
                       ("A100", 1.555e12), ("L4", 0.3e12), ("A10", 0.6e12))


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
  mesh = make_mesh((1, -1, 1), devices=jax.devices("cpu")[:1])  # the CPU comparison, even on a GPU machine
  model = load_model(ckpt, mesh, DEFAULT_RULES, scan_layers=scan_layers)
  dec = GreedyDecoder(model, eos_ids=vocab, pad_id=0, batch_size=len(prompts), mesh=mesh, rules=DEFAULT_RULES)
  t0 = time.perf_counter()
  dec.decode(prompts, new_tokens)  # compile + first run
  first = time.perf_counter() - t0
  out, seconds = best_of(lambda: dec.decode(prompts, new_tokens))
  return out, seconds, first


def best_of(run, repeats: int = REPEATS):
  """(result, fastest of `repeats` timed calls): the least disturbed run on a shared, noisy machine."""
  best, out = float("inf"), None
  for _ in range(repeats):
    t0 = time.perf_counter()
    out = run()
    best = min(best, time.perf_counter() - t0)
  return out, best


def hf(hf_dir: str, prompts, new_tokens: int) -> tuple[list[list[int]], float]:
  model = transformers.AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
  width = max(len(p) for p in prompts)
  ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
  mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
  kwargs = dict(attention_mask=mask, do_sample=False, eos_token_id=None, pad_token_id=0)
  with torch.no_grad():
    model.generate(input_ids=ids, max_new_tokens=8, min_new_tokens=8, **kwargs)  # warm-up
    out, seconds = best_of(lambda: model.generate(input_ids=ids, max_new_tokens=new_tokens,
                                                  min_new_tokens=new_tokens, **kwargs))
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
          "ours_scan_layers": EVAL_SCAN_LAYERS,
          f"ours_scan_layers_{not EVAL_SCAN_LAYERS}_tokens_per_s": tokens / scan_s,
          "rows_identical": sum(a == b for a, b in zip(our_out, hf_out))}


def read_bandwidth(device: jax.Device, n_bytes: int) -> float:
  """Bytes/s of summing an n_bytes array on `device`: the attainable read bandwidth (decoding mostly reads)."""
  x = jax.device_put(jnp.ones((n_bytes // 4,), jnp.float32), device)
  f = jax.jit(jnp.sum)
  f(x).block_until_ready()
  return n_bytes / best_of(lambda: f(x).block_until_ready(), repeats=5)[1]


def bandwidth_row(arch: dict, device: jax.Device, batch: int, new_tokens: int, dtype: str) -> dict:
  """Our decoding of a random-weight model on one device against the memory-bandwidth limit."""
  cfg = from_hf_config(arch, param_dtype=dtype, dtype=dtype,
                       scan_layers=decode_scan_layers(default_eval_config().model.scan_layers, [device]))
  mesh = make_mesh((1, 1, 1), devices=[device])
  model = create_sharded(lambda: Decoder(cfg, rngs=nnx.Rngs(0)), mesh, DEFAULT_RULES)
  prompts = prompts_for(batch, cfg.arch.vocab_size, seed=1)
  dec = GreedyDecoder(model, eos_ids=cfg.arch.vocab_size, pad_id=0, batch_size=batch, mesh=mesh, rules=DEFAULT_RULES)
  with jax.set_mesh(mesh):
    t0 = time.perf_counter()
    dec.decode(prompts, new_tokens)
    first = time.perf_counter() - t0
    out, best = best_of(lambda: dec.decode(prompts, new_tokens))
    lookup = prompt_lookup_row(model, mesh, prompts, new_tokens, out, best)
  assert all(len(o) == new_tokens for o in out)
  params = nnx.state(model, nnx.Param)
  n_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))
  item = jnp.dtype(dtype).itemsize
  # Per step every weight is read except the input embedding (a gather of `batch` rows; the LM head is read
  # whole, or the same table when tied), and attention reads the whole preallocated cache of every layer.
  weight_bytes = (n_params - (0 if cfg.arch.tie_word_embeddings else cfg.arch.vocab_size * cfg.arch.hidden_size)) * item
  cache_len = sum(dec.shapes_for(max(len(p) for p in prompts), new_tokens))
  cache_bytes = 2 * cfg.arch.num_layers * batch * cfg.arch.num_kv_heads * cache_len * cfg.arch.head_dim * item
  achieved = (weight_bytes + cache_bytes) / (best / new_tokens)
  measured = read_bandwidth(device, 1 << 30)
  sheet = next((bw for name, bw in DATASHEET_BANDWIDTH if name in device.device_kind), None)
  row = {"device": device.device_kind, "params": n_params, "dtype": dtype, "batch": batch,
         "new_tokens": new_tokens, "first_call_s": first, "decode_s": best, "tokens_per_s": batch * new_tokens / best,
         "bytes_per_step": weight_bytes + cache_bytes, "achieved_bytes_per_s": achieved,
         "measured_read_bytes_per_s": measured, "fraction_of_measured_bandwidth": achieved / measured}
  if sheet:
    row.update(datasheet_bytes_per_s=sheet, fraction_of_datasheet_bandwidth=achieved / sheet)
  row["prompt_lookup"] = lookup
  return row


def prompt_lookup_row(model, mesh, prompts, new_tokens: int, plain_out, plain_s: float,
                      draft_tokens: int = 8, max_ngram: int = 4) -> dict:
  """The same prompts and model with prompt-lookup speculative decoding, against plain greedy's rows and time."""
  batch, vocab = len(prompts), model.config.arch.vocab_size
  dec = GreedyDecoder(model, eos_ids=vocab, pad_id=0, batch_size=batch, mesh=mesh, rules=DEFAULT_RULES,
                      method="prompt_lookup", draft_tokens=draft_tokens, max_ngram=max_ngram)
  t0 = time.perf_counter()
  dec.decode(prompts, new_tokens)
  first = time.perf_counter() - t0
  out, best = best_of(lambda: dec.decode(prompts, new_tokens))
  assert all(len(o) == new_tokens for o in out)
  return {"method": "prompt_lookup", "draft_tokens": draft_tokens, "max_ngram": max_ngram, "first_call_s": first,
          "decode_s": best, "tokens_per_s": batch * new_tokens / best, "speedup_over_greedy": plain_s / best,
          "tokens_per_forward": dec.stats.tokens_per_forward,
          "rows_identical_to_greedy": sum(a == b for a, b in zip(out, plain_out))}


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--sizes", default="small,medium")
  p.add_argument("--batch", type=int, default=32)
  p.add_argument("--new_tokens", type=int, default=256)
  p.add_argument("--bandwidth_on_cpu", action="store_true",
                 help="run the bandwidth comparison on the CPU with a small model (checks the script without a GPU)")
  p.add_argument("--gpu_only", action="store_true",
                 help="only the GPU part, without the CPU size comparison; writes decode_throughput_gpu.json")
  p.add_argument("--out", default=os.path.dirname(RESULTS), help="folder to write the JSON into")
  p.add_argument("--parts", default="sizes,traces", help="sizes (random prompts), traces (RF traces), or both")
  p.add_argument("--trace_lengths", default="5,15,30")
  p.add_argument("--hf_lookup_prompts", type=int, default=4,
                 help="prompts HF's batch-1 prompt lookup decodes per length (it is timed per sequence)")
  p.add_argument("--draft_tokens", default="4,8", help="k values of our prompt lookup (HF's uses the largest)")
  p.add_argument("--bf16_max_length", type=int, default=15,
                 help="trace lengths up to this also decode in bfloat16, to count rows where the methods differ")
  p.add_argument("--max_ngram", type=int, default=4)
  args = p.parse_args()
  parts = {x.strip() for x in args.parts.split(",") if x.strip()}
  sizes = [] if args.gpu_only or "sizes" not in parts else [s.strip() for s in args.sizes.split(",") if s.strip()]
  traces, training = None, None
  if "traces" in parts and not args.gpu_only:
    from decode_traces import print_traces, run_traces
    traces, training = run_traces([int(x) for x in args.trace_lengths.split(",")], args.batch,
                                  args.hf_lookup_prompts, [int(x) for x in args.draft_tokens.split(",")],
                                  args.max_ngram, args.bf16_max_length)
  rows = [run_size(s, args.batch, args.new_tokens) for s in sizes]
  gpus = [d for d in jax.devices() if d.platform == "gpu"]
  if gpus:
    bandwidth = bandwidth_row(GPU_ARCH, gpus[0], args.batch, args.new_tokens, "bfloat16")
  elif args.bandwidth_on_cpu:
    bandwidth = bandwidth_row(tiny_arch(4096, hidden_size=512, layers=8, heads=8, kv_heads=4,
                                        intermediate_size=1536), jax.devices("cpu")[0], args.batch,
                              args.new_tokens, "float32")
  else:
    bandwidth = {"skipped": "no GPU visible to JAX on this machine: the ~1B-model memory-bandwidth comparison "
                            "was not run"}
  print(f"bandwidth: {bandwidth}")
  result = {"machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                        "torch_threads": torch.get_num_threads(), "jax": jax.__version__,
                        "torch": torch.__version__, "transformers": transformers.__version__},
            "rows": rows, "bandwidth": bandwidth}
  if traces is not None:
    result["rf_traces"] = {"model": training, "rows": traces}
  name = os.path.splitext(os.path.basename(RESULTS))[0] + ("_gpu" if args.gpu_only else "")
  path = os.path.join(args.out, name + ".json")
  os.makedirs(args.out, exist_ok=True)
  with open(path, "w") as f:
    json.dump(result, f, indent=2)
  if rows:
    print("| model | params | batch x new tokens | ours tokens/s | HF generate tokens/s | speedup | rows identical "
          "| ours with scanned layers |")
    print("|---|---|---|---|---|---|---|---|")
  for r in rows:
    print(f"| {r['size']} (hidden {r['hidden_size']}, {r['num_layers']} layers) | {r['params'] / 1e6:.1f}M | "
          f"{r['batch']} x {r['new_tokens']} | {r['ours_tokens_per_s']:.0f} | {r['hf_tokens_per_s']:.0f} | "
          f"{r['speedup']:.1f}x | {r['rows_identical']}/{r['batch']} | "
          f"{r[f'ours_scan_layers_{not EVAL_SCAN_LAYERS}_tokens_per_s']:.0f} |")
  if traces:
    print_traces(traces)
  if "tokens_per_s" in bandwidth:
    b = bandwidth
    sheet = (f"{100 * b['fraction_of_datasheet_bandwidth']:.0f}%" if "datasheet_bytes_per_s" in b
             else "n/a (unknown device)")
    print("\n| device | model | batch x new tokens | tokens/s | bytes/step | achieved | of measured bandwidth "
          "| of datasheet |\n|---|---|---|---|---|---|---|---|")
    print(f"| {b['device']} | {b['params'] / 1e9:.2f}B {b['dtype']} | {b['batch']} x {b['new_tokens']} | "
          f"{b['tokens_per_s']:.0f} | {b['bytes_per_step'] / 1e9:.2f} GB | {b['achieved_bytes_per_s'] / 1e9:.0f} GB/s "
          f"| {100 * b['fraction_of_measured_bandwidth']:.0f}% | {sheet} |")
    pl = b["prompt_lookup"]
    print(f"\n| device | method | tokens/s | tokens per model call | speedup over greedy | rows identical to greedy |"
          f"\n|---|---|---|---|---|---|\n| {b['device']} | prompt_lookup (k={pl['draft_tokens']}, "
          f"n<={pl['max_ngram']}) | {pl['tokens_per_s']:.0f} | {pl['tokens_per_forward']:.2f} | "
          f"{pl['speedup_over_greedy']:.2f}x | {pl['rows_identical_to_greedy']}/{b['batch']} |")
  print(f"wrote {path}")


if __name__ == "__main__":
  main()
