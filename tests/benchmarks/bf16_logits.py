"""bfloat16 logits against float32: how far our bfloat16 forward pass moves the logits of a ~1.1B model.

  python tests/benchmarks/bf16_logits.py [--batch 8] [--seq_len 512] [--seed 0] [--on_cpu] [--out DIR]

Training and decoding on a GPU run the model in bfloat16; this measures what that costs in the model's output,
so that a change in the bfloat16 path (an attention kernel, a cast in the wrong place) shows up as a number. One
~1.1B Llama-layout model (TinyLlama's shape, GPU_ARCH of train_throughput.py, random weights from our own
initialisers) runs one forward pass over a batch of random token ids twice on one GPU: all float32 (float32
weights and compute, matmuls at precision 'highest', so the reference is not itself TF32-rounded), and all
bfloat16 (the same weights cast to bfloat16, bfloat16 compute; the logits come out in float32 either way).
Reported: the max and mean absolute logit difference, the relative difference ||bf16 - f32|| / ||f32|| over all
logits, and the fraction of positions whose argmax agrees. Random weights give flatter distributions than a
trained model's, so some argmax disagreements are near-ties: the largest float32 top-1 margin among the
disagreeing positions says how close they were.

Without a GPU it prints "skipped: no GPU" and exits 0; `--on_cpu` runs the same code on the CPU with the
`small` model of decode_throughput.py (hidden 128, 4 layers, vocab 1024), to check the script itself.
Writes tests/benchmarks/results/bf16_logits.json (or into --out) and prints a docs/performance.md table row.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import time

# CPU only unless a GPU and jax's CUDA plugin are both here (naming an absent platform fails at start-up, and an
# installed libtpu would otherwise be probed).
_HAS_GPU = shutil.which("nvidia-smi") is not None and any(
    importlib.util.find_spec(m) is not None for m in ("jax_cuda12_plugin", "jax_cuda13_plugin"))
os.environ.setdefault("JAX_PLATFORMS", "cuda,cpu" if _HAS_GPU else "cpu")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

from meta_rfft.config.defaults import tiny_arch  # noqa: E402
from meta_rfft.model.config import from_hf_config  # noqa: E402
from meta_rfft.model.decoder import Decoder  # noqa: E402
from meta_rfft.sharding.mesh import make_mesh  # noqa: E402
from meta_rfft.sharding.placement import create_sharded  # noqa: E402
from meta_rfft.sharding.rules import DEFAULT_RULES, use_sharding  # noqa: E402
from train_throughput import GPU_ARCH  # noqa: E402  (the ~1.1B TinyLlama-shaped model of the MFU measurement)

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "bf16_logits.json")
CPU_ARCH = tiny_arch(1024)  # decode_throughput.py's `small` size


def forward_fn(graphdef, mesh):
  @jax.jit
  def forward(state, tokens):
    # Weights are arguments, not closure constants baked into the compiled program.
    with use_sharding(mesh, DEFAULT_RULES):
      return nnx.merge(graphdef, state)(tokens)[0]
  return forward


def compare(arch: dict, device: jax.Device, batch: int, seq_len: int, seed: int) -> dict:
  """One forward pass in float32 and in bfloat16 over the same random tokens, with the same weights."""
  mesh = make_mesh((1, 1, 1), devices=[device])
  f32_cfg = from_hf_config(arch, param_dtype="float32", dtype="float32", platform=device.platform)
  bf16_cfg = from_hf_config(arch, param_dtype="bfloat16", dtype="bfloat16", platform=device.platform)
  model = create_sharded(lambda: Decoder(f32_cfg, rngs=nnx.Rngs(seed)), mesh, DEFAULT_RULES)
  f32_graph, f32_state = nnx.split(model)
  # The bfloat16 model's structure, without initialising a second set of weights: its values are the float32
  # weights rounded, so the two runs differ only in precision.
  bf16_graph, _ = nnx.split(nnx.eval_shape(lambda: Decoder(bf16_cfg, rngs=nnx.Rngs(seed))))
  bf16_state = jax.tree.map(lambda x: x.astype(jnp.bfloat16) if jnp.issubdtype(x.dtype, jnp.floating) else x,
                            f32_state)
  tokens = jax.device_put(
      np.random.default_rng(seed).integers(0, arch["vocab_size"], size=(batch, seq_len)).astype(np.int32), device)

  timings = {}
  with jax.default_matmul_precision("highest"):
    t0 = time.perf_counter()
    ref = np.asarray(forward_fn(f32_graph, mesh)(f32_state, tokens))
    timings["float32_first_call_s"] = time.perf_counter() - t0
  t0 = time.perf_counter()
  low = np.asarray(forward_fn(bf16_graph, mesh)(bf16_state, tokens)).astype(np.float32)
  timings["bfloat16_first_call_s"] = time.perf_counter() - t0
  assert ref.dtype == np.float32 and ref.shape == low.shape == (batch, seq_len, arch["vocab_size"])
  assert np.isfinite(ref).all() and np.isfinite(low).all(), "non-finite logits"

  diff = np.abs(low - ref)
  agree = ref.argmax(-1) == low.argmax(-1)
  top2 = np.partition(ref, -2, axis=-1)[..., -2:]  # [..., 1] >= [..., 0]: the two largest
  margin = top2[..., 1] - top2[..., 0]
  n_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
  return {
      "device": device.device_kind, "platform": device.platform, "model": arch, "params": n_params,
      "batch": batch, "seq_len": seq_len, "seed": seed,
      "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
      "relative_diff": float(np.linalg.norm(low - ref) / np.linalg.norm(ref)),
      "argmax_agreement": float(agree.mean()), "positions": int(agree.size),
      "f32_logit_std": float(ref.std()), "f32_top1_margin_median": float(np.median(margin)),
      "max_f32_margin_where_argmax_differs": float(margin[~agree].max()) if (~agree).any() else None,
      **timings, "jax": jax.__version__,
  }


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--batch", type=int, default=8)
  p.add_argument("--seq_len", type=int, default=512)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--on_cpu", action="store_true",
                 help="run on the CPU with the small model (checks the script without a GPU)")
  p.add_argument("--out", default=os.path.dirname(RESULTS), help="folder to write the JSON into")
  args = p.parse_args()
  gpus = [d for d in jax.devices() if d.platform == "gpu"]
  if args.on_cpu:
    arch, device = CPU_ARCH, jax.devices("cpu")[0]
  elif gpus:
    arch, device = GPU_ARCH, gpus[0]
  else:
    print("skipped: no GPU (nvidia-smi and a jax CUDA plugin) on this machine; --on_cpu checks the script")
    return
  r = compare(arch, device, args.batch, args.seq_len, args.seed)
  path = os.path.join(args.out, os.path.basename(RESULTS))
  os.makedirs(args.out, exist_ok=True)
  with open(path, "w") as f:
    json.dump(r, f, indent=2)
  near_tie = r["max_f32_margin_where_argmax_differs"]
  size = f"{r['params'] / 1e9:.2f}B" if r["params"] >= 1e9 else f"{r['params'] / 1e6:.2f}M"
  print("| device | model | batch x seq | max abs diff | mean abs diff | relative diff | argmax agreement | "
        "largest f32 margin among disagreements |\n|---|---|---|---|---|---|---|---|")
  print(f"| {r['device']} | {size} params, bf16 vs f32 | {r['batch']} x {r['seq_len']} | "
        f"{r['max_abs_diff']:.4f} | {r['mean_abs_diff']:.4f} | {r['relative_diff']:.2e} | "
        f"{100 * r['argmax_agreement']:.2f}% | {'none' if near_tie is None else f'{near_tie:.4f}'} |")
  print(f"wrote {path}")


if __name__ == "__main__":
  main()
