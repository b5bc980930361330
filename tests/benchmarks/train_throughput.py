"""Training throughput: our trainer's step vs Hugging Face transformers + PyTorch AdamW, on the CPU, in one run.

Both train the same small Qwen2-architecture model (same config, same parameter count) on the same batches
(random tokens in the batch format: rows packing 1-3 examples, prompt tokens weighted 0), with AdamW and
global-norm clipping at 1.0, in two precisions: float32, and mixed bfloat16 (float32 weights and AdamW, bfloat16
compute: ours with model.dtype=bfloat16, HF under torch.autocast). Ours: the jitted step of meta_rfft.train
(run_state.build), on one CPU device; the reference: Qwen2ForCausalLM forward + loss + backward + clip_grad_norm_
+ torch.optim.AdamW. Ours runs twice: with its hand-written backward passes (the default) and with
model.custom_grads=false (plain autodiff of the same forward pass). Tokens/s counts every position of every row
(batch x seq_len). After `--warmup` steps each, the three alternate `--rounds` rounds of `--steps` steps (so a
change in the load of a shared machine hits all); the median round counts.

In the same run it measures both libraries' matmul rate on the model's own shapes, per precision: the training
FLOPs of a step at the faster rate give the step time no trainer can beat on this machine (the "matmul floor"),
against which both trainers' step times and the goal are read.

Where a GPU is present, the script also measures our MFU for a ~1B Llama-architecture model in bfloat16 (the
FLOP formula is meta_rfft.train.metrics.train_flops_per_token); without one it says so and skips that part.
`--gpu_only` measures only that (tests/benchmarks/on_device.sh) and writes train_throughput_gpu.json instead, so
that a short GPU run never replaces the full result.

  python tests/benchmarks/train_throughput.py [--rounds 5] [--steps 4] [--warmup 3] [--precisions float32,bfloat16]
                                              [--gpu_only] [--out tests/benchmarks/results]

Writes tests/benchmarks/results/train_throughput.json (or into --out) and prints the docs/performance.md table.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import time

import jax
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from meta_rfft.config.defaults import model_section  # noqa: E402
from meta_rfft.model.config import from_run_config  # noqa: E402
from meta_rfft.sharding.mesh import make_mesh  # noqa: E402
from meta_rfft.sharding.rules import DEFAULT_RULES  # noqa: E402
from meta_rfft.train import metrics, random_tokens, run_state, step as step_lib  # noqa: E402
from meta_rfft.train.config import base_config  # noqa: E402

RESULTS = ROOT / "tests" / "benchmarks" / "results" / "train_throughput.json"

# The CPU comparison model: Qwen2 layout (q/k/v biases, GQA, tied embeddings), ~7M parameters.
CPU_ARCH = dict(model_type="qwen2", vocab_size=4096, hidden_size=256, intermediate_size=768, num_hidden_layers=4,
                num_attention_heads=8, num_key_value_heads=2, rope_theta=10000.0, rms_norm_eps=1e-6,
                tie_word_embeddings=True, max_position_embeddings=4096)
# The GPU MFU model: ~1.1B parameters, Llama layout (TinyLlama-1.1B's shape).
GPU_ARCH = dict(model_type="llama", vocab_size=32000, hidden_size=2048, intermediate_size=5632,
                num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4, rope_theta=10000.0,
                rms_norm_eps=1e-5, tie_word_embeddings=False, max_position_embeddings=4096)


def run_config(arch: dict, *, batch: int, seq_len: int, dtype: str, remat: str, custom_grads: bool = True):
  c = base_config()
  c.model = model_section(**arch)
  c.model.custom_grads = custom_grads
  c.model.dtype = dtype
  c.model.remat_policy = remat
  c.train.batch_size = batch
  c.data.seq_len = seq_len
  c.train.steps = 1000
  c.optim.learning_rate = 1e-4
  c.optim.warmup_steps = 0
  c.optim.schedule = "constant"
  return c


def ours(arch: dict, batches, *, warmup: int, dtype="float32", remat="none", devices=None, custom_grads=True):
  """(description, run(n) -> seconds for n steps) for our trainer's step; `custom_grads`: model.custom_grads."""
  batch, seq_len = batches[0]["input_tokens"].shape
  config = run_config(arch, batch=batch, seq_len=seq_len, dtype=dtype, remat=remat, custom_grads=custom_grads)
  devices = devices or jax.devices()[:1]
  mesh = make_mesh((1, len(devices), 1), devices=devices)
  model_cfg = from_run_config(config.model)
  setup = run_state.build(config, model_cfg, mesh, DEFAULT_RULES, global_batch=batch, seq_len=seq_len)
  state, frozen = run_state.make_state(setup, *run_state.initial_weights(setup, config))
  on_device = [step_lib.put_batch(b, setup.fns.batch_sharding, batch) for b in batches]
  t_compile = time.perf_counter()
  live = {"state": state, "i": 0, "loss": None}

  def run(n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
      live["state"], m = setup.fns.train(live["state"], frozen, on_device[live["i"] % len(on_device)])
      live["i"] += 1
    live["loss"] = float(jax.block_until_ready(m)["loss"])
    return time.perf_counter() - t0

  run(warmup)
  info = {"params": model_cfg.arch.num_params, "warmup_incl_compile_s": time.perf_counter() - t_compile,
          "flops_per_token": metrics.train_flops_per_token(model_cfg, seq_len),
          "peak_flops_per_device": metrics.device_peak_flops(devices[0]),  # None on CPUs: no MFU there
          "device": devices[0].device_kind, "devices": len(devices), "live": live}
  return info, run


def reference(arch: dict, batches, *, warmup: int, precision: str = "float32"):
  """(description, run(n) -> seconds for n steps) for transformers + torch AdamW; "bfloat16": float32 weights and
  optimizer, forward and backward under torch.autocast(bfloat16), PyTorch's mixed precision on the CPU."""
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  torch.manual_seed(0)
  hf_cfg = transformers.Qwen2Config(
      vocab_size=arch["vocab_size"], hidden_size=arch["hidden_size"], intermediate_size=arch["intermediate_size"],
      num_hidden_layers=arch["num_hidden_layers"], num_attention_heads=arch["num_attention_heads"],
      num_key_value_heads=arch["num_key_value_heads"], rope_theta=arch["rope_theta"],
      rms_norm_eps=arch["rms_norm_eps"], tie_word_embeddings=arch["tie_word_embeddings"],
      max_position_embeddings=arch["max_position_embeddings"], attn_implementation="sdpa")
  model = transformers.Qwen2ForCausalLM(hf_cfg).float().train()
  opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
  # HF has no packed-segment attention in this model class: rows attend causally over the whole row (the same
  # L x L work as ours); prompt and padding positions carry no loss, as in our batches.
  data = []
  for b in batches:
    labels = np.where(b["loss_weights"] > 0, b["target_tokens"], -100)
    data.append((torch.from_numpy(b["input_tokens"].astype(np.int64)), torch.from_numpy(labels.astype(np.int64))))

  def one(i):
    ids, labels = data[i % len(data)]
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
      logits = model(input_ids=ids).logits.float()
      loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                               ignore_index=-100)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return float(loss.detach())

  live = {"i": 0, "loss": None}

  def run(n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
      live["loss"] = one(live["i"])
      live["i"] += 1
    return time.perf_counter() - t0

  run(warmup)
  return {"params": sum(p.numel() for p in model.parameters()), "torch": torch.__version__,
          "transformers": transformers.__version__, "torch_threads": torch.get_num_threads(), "live": live}, run


def matmul_rates(arch: dict, tokens: int, precision: str, repeats: int = 20) -> dict:
  """GFLOP/s of one matmul of the model's own shapes (the MLP's [tokens, hidden] x [hidden, mlp] and the LM head's
  [tokens, hidden] x [hidden, vocab]) in `precision` (bfloat16: bfloat16 operands, float32 accumulation), through
  XLA and through torch, best of `repeats`. Nearly every training FLOP of this model is such a matmul, so
  flops_per_step / the faster rate bounds any trainer's step time."""
  import torch  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  jdt, tdt = (jax.numpy.bfloat16, torch.bfloat16) if precision == "bfloat16" else (np.float32, torch.float32)
  out = {}
  for name, (k, n) in {"mlp": (arch["hidden_size"], arch["intermediate_size"]),
                       "lm_head": (arch["hidden_size"], arch["vocab_size"])}.items():
    a, b = rng.normal(size=(tokens, k)).astype(np.float32), rng.normal(size=(k, n)).astype(np.float32)
    flops = 2 * tokens * k * n
    mm = jax.jit(lambda x, y: jax.numpy.dot(x, y, preferred_element_type=np.float32))
    ja, jb = (jax.device_put(x.astype(jdt), jax.devices("cpu")[0]) for x in (a, b))
    ta, tb = torch.from_numpy(a).to(tdt), torch.from_numpy(b).to(tdt)

    def best(fn):
      fn()
      times = []
      for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
      return flops / min(times) / 1e9

    out[name] = {"shape": [tokens, k, n], "jax_gflops": best(lambda: mm(ja, jb).block_until_ready()),
                 "torch_gflops": best(lambda: ta @ tb)}
  return out


def measure(runners: dict, *, rounds: int, steps_per_round: int, tokens_per_step: int) -> dict:
  """Alternates rounds of each trainer so that a change in machine load hits both; median over rounds."""
  times = {name: [] for name in runners}
  for _ in range(rounds):
    for name, run in runners.items():
      times[name].append(run(steps_per_round) / steps_per_round)
  return {name: {"step_s": float(np.median(t)), "tokens_per_s": tokens_per_step / float(np.median(t)),
                 "best_step_s": float(min(t)), "best_tokens_per_s": tokens_per_step / float(min(t)),
                 "step_s_per_round": t} for name, t in times.items()}


def gpu_mfu(warmup: int, steps: int) -> dict | None:
  gpus = [d for d in jax.devices() if d.platform == "gpu"]
  if not gpus:
    return None
  batch, seq_len = 8, 2048
  it = random_tokens.RandomTokenBatches(batch, seq_len, GPU_ARCH["vocab_size"], seed=0)
  batches = [it.batch_at(i) for i in range(4)]
  info, run = ours(GPU_ARCH, batches, warmup=warmup, dtype="bfloat16", remat="dots_no_batch", devices=gpus[:1])
  step_s = float(np.median([run(max(1, steps // 3)) / max(1, steps // 3) for _ in range(3)]))
  tokens_per_s = batch * seq_len / step_s
  info.pop("live")
  return dict(info, step_s=step_s, tokens_per_s=tokens_per_s,
              mfu=metrics.mfu(info["flops_per_token"], tokens_per_s, info["peak_flops_per_device"], 1))


def compare(batches, precision: str, args) -> dict:
  """Ours vs HF in one precision, alternating rounds; both against the matmul floor of that precision."""
  tokens = args.batch * args.seq_len
  cpu = jax.devices("cpu")[:1]
  info_ours, run_ours = ours(CPU_ARCH, batches, warmup=args.warmup, dtype=precision, devices=cpu)
  info_auto, run_auto = ours(CPU_ARCH, batches, warmup=args.warmup, dtype=precision, devices=cpu, custom_grads=False)
  info_ref, run_ref = reference(CPU_ARCH, batches, warmup=args.warmup, precision=precision)
  timed = measure({"ours": run_ours, "ours_autodiff": run_auto, "hf_torch": run_ref}, rounds=args.rounds,
                  steps_per_round=args.steps, tokens_per_step=tokens)
  result_ours = dict(info_ours, **timed["ours"], loss_last=info_ours.pop("live")["loss"])
  result_auto = dict(info_auto, **timed["ours_autodiff"], loss_last=info_auto.pop("live")["loss"])
  result_ref = dict(info_ref, **timed["hf_torch"], loss_last=info_ref.pop("live")["loss"])
  # What the fastest possible trainer could do here: every FLOP at the best matmul rate either library reaches.
  rates = matmul_rates(CPU_ARCH, tokens, precision)
  peak_gflops = max(max(r["jax_gflops"], r["torch_gflops"]) for r in rates.values())
  floor_step_s = result_ours["flops_per_token"] * tokens / (peak_gflops * 1e9)
  return {
      "ours": result_ours, "ours_autodiff": result_auto, "hf_torch": result_ref,
      "ratio": result_ours["tokens_per_s"] / result_ref["tokens_per_s"],
      # The least-disturbed round of each (as timeit reports the minimum): on a busy shared machine the median
      # mostly measures how each library copes with other processes' load.
      "best_round_ratio": result_ours["best_tokens_per_s"] / result_ref["best_tokens_per_s"],
      "matmul_floor": {"matmul_gflops": rates, "best_matmul_gflops": peak_gflops, "step_s": floor_step_s,
                       "tokens_per_s": tokens / floor_step_s, "ratio_to_hf": result_ref["step_s"] / floor_step_s,
                       "ours_fraction_of_floor": floor_step_s / result_ours["step_s"],
                       "hf_fraction_of_floor": floor_step_s / result_ref["step_s"]},
      "load_average_1m": os.getloadavg()[0],
  }


def print_table(results: dict, args) -> None:
  print("| precision | trainer | params | batch x seq | tokens/s (median round) | tokens/s (best round) | "
        "ratio to HF, median / best |")
  print("| --- | --- | --- | --- | --- | --- | --- |")
  for precision, r in results.items():
    ref = r["hf_torch"]
    for name, x in (("meta_rfft (JAX, 1 CPU device)", r["ours"]),
                    ("meta_rfft, model.custom_grads=false (plain autodiff)", r["ours_autodiff"]),
                    ("HF transformers + torch AdamW", ref)):
      print(f"| {precision} | {name} | {x['params'] / 1e6:.2f}M | {args.batch} x {args.seq_len} | "
            f"{x['tokens_per_s']:.0f} | {x['best_tokens_per_s']:.0f} | "
            f"{x['tokens_per_s'] / ref['tokens_per_s']:.2f} / {x['best_tokens_per_s'] / ref['best_tokens_per_s']:.2f} |")
    f = r["matmul_floor"]
    print(f"| {precision} | matmul floor (every FLOP at {f['best_matmul_gflops']:.0f} GFLOP/s) | | | "
          f"{f['tokens_per_s']:.0f} | | {f['ratio_to_hf']:.2f} |")
  for precision, r in results.items():
    print(f"{precision} matmul GFLOP/s (jax / torch): " + ", ".join(
        f"{k} {v['shape']}: {v['jax_gflops']:.0f} / {v['torch_gflops']:.0f}"
        for k, v in r["matmul_floor"]["matmul_gflops"].items()))
    print(f"{precision} per-round step seconds: ours {[round(t, 3) for t in r['ours']['step_s_per_round']]}, "
          f"autodiff {[round(t, 3) for t in r['ours_autodiff']['step_s_per_round']]}, "
          f"HF {[round(t, 3) for t in r['hf_torch']['step_s_per_round']]}; load average {r['load_average_1m']:.1f}")


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=4, help="steps per round")
  parser.add_argument("--rounds", type=int, default=5, help="rounds, alternating the two trainers")
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--seq_len", type=int, default=256)
  parser.add_argument("--precisions", default="float32,bfloat16",
                      help="comma-separated: float32 (both all-float32), bfloat16 (float32 weights and optimizer, "
                           "bfloat16 compute: ours model.dtype=bfloat16, HF under torch.autocast)")
  parser.add_argument("--gpu_only", action="store_true",
                      help="only the GPU MFU, without the CPU comparison; writes train_throughput_gpu.json")
  parser.add_argument("--out", default=str(RESULTS.parent), help="folder to write the JSON into")
  args = parser.parse_args()
  jax.config.update("jax_platforms", "cpu") if not any(d.platform == "gpu" for d in jax.devices()) else None
  precisions = [p for p in args.precisions.split(",") if p]
  bad = [p for p in precisions if p not in ("float32", "bfloat16")]
  if bad:
    parser.error(f"--precisions: unknown {bad}; choose from float32, bfloat16")
  results = {}
  if not args.gpu_only:
    it = random_tokens.RandomTokenBatches(args.batch, args.seq_len, CPU_ARCH["vocab_size"], seed=0)
    batches = [it.batch_at(i) for i in range(4)]
    results = {p: compare(batches, p, args) for p in precisions}
  gpu = gpu_mfu(args.warmup, args.steps)
  out = {
      "cpu": {"skipped": "--gpu_only"} if args.gpu_only else {
          "model": CPU_ARCH, "batch": args.batch, "seq_len": args.seq_len, "steps_per_round": args.steps,
          "rounds": args.rounds, "warmup": args.warmup, "goal_ratio": 1.5,
          "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs", **results},
      "gpu": gpu if gpu is not None else {"skipped": "no GPU on this machine: MFU not measured"},
      "jax": jax.__version__,
  }
  path = pathlib.Path(args.out) / f"{RESULTS.stem}{'_gpu' if args.gpu_only else ''}.json"
  path.parent.mkdir(parents=True, exist_ok=True)
  with open(path, "w") as f:
    json.dump(out, f, indent=2)
  print(f"wrote {path}")
  if results:
    print_table(results, args)
  if gpu is None:
    print("GPU MFU: skipped (no GPU on this machine)")
  else:
    mfu = "unknown (no peak FLOP/s for this device)" if gpu["mfu"] is None else f"{100 * gpu['mfu']:.1f}%"
    print(f"GPU MFU ({gpu['device']}, {gpu['params'] / 1e9:.2f}B params, bf16): {mfu} "
          f"({gpu['tokens_per_s']:.0f} tokens/s)")


if __name__ == "__main__":
  main()
