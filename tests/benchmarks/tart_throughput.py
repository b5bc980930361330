"""TART reasoning-head training throughput: our step (meta_rfft.tart.train) vs the reference's architecture, on the CPU.

  python tests/benchmarks/tart_throughput.py [--points 66,258] [--batch 16] [--warmup 2] [--rounds 3] [--steps 3]
                                             [--quick] [--out tests/benchmarks/results/tart_throughput.json]

Ours: the real jitted training step of `python -m meta_rfft.tart train` (build_head, optimizer, make_train_step) with
the paper's head of configs/tart.py (12 layers, width 256, 8 heads, SwiGLU 704, d = 16), train.batch_size = --batch,
all 16 dimensions active, on one CPU device; it draws its synthetic batch on device inside the step.
The reference: what TART's released code trains, a transformers GPT2Model (width 256, 12 layers, 8 heads, learned
positions, no dropout, float32) fed `inputs_embeds` from a Linear(16, 256) read-in, a Linear(256, 1) read-out at
every position, BCE-with-logits on the x positions, torch.optim.AdamW(lr=1e-4); its batch of logistic-regression
tasks (x ~ N(0, I), w ~ 10 N(0, I), y ~ Bernoulli(sigmoid(x.w)), labels in coordinate 0, interleaved x1, y1, ...)
is drawn with torch inside each timed step, as ours is. torch uses every core (torch.set_num_threads).

For each --points (sequences of 2 x points positions), after --warmup steps each (compilation included for ours),
the two alternate --rounds rounds of --steps steps, so that a change in a shared machine's load hits both; the
median round counts (the best round is reported too). Sequences/s = batch / step time. Both sides do the same work
up to the MLP's shape (SwiGLU 3 x 256 x 704 vs GELU 2 x 256 x 1024): parameter counts and the training FLOPs per
sequence (6 x matmul parameters x positions + 12 x layers x width x positions^2 for the L x L attention products)
are written next to the rates. `--quick` is a smoke run (tiny points and batch, one step per round) that writes
tart_throughput_quick.json unless --out says otherwise, so it never replaces the full result.

Run without XLA_FLAGS device-count flags: one CPU device, as on a laptop. Writes JSON and prints the docs/performance.md table.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import time

# The comparison is CPU against CPU even where an accelerator is present.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from meta_rfft import distributed  # noqa: E402
from meta_rfft.config.loader import load_config_file  # noqa: E402
from meta_rfft.sharding.rules import normalize_rules  # noqa: E402
from meta_rfft.tart import train as tart_train  # noqa: E402

CONFIG = ROOT / "configs" / "tart.py"
RESULTS = ROOT / "tests" / "benchmarks" / "results" / "tart_throughput.json"
ALPHA = 10.0  # the released head's task scale (configs/tart.py synthetic.alpha)


def train_flops_per_sequence(matmul_params: int, layers: int, width: int, positions: int) -> float:
  """Forward + backward matmul FLOPs of one sequence: 6 per matmul weight per position, plus the Q.K^T and P.V
  products (2 x 2 x positions^2 x width per layer forward, x3 with the backward; the full L x L is computed and
  masked, so no causal halving)."""
  return 6.0 * matmul_params * positions + 12.0 * layers * width * positions ** 2


def ours(config, points: int, *, warmup: int):
  """(info, run(n) -> seconds for n steps) for meta_rfft.tart's training step."""
  mesh = distributed.global_mesh_from_config(config.mesh)
  rules = normalize_rules(dict(config.sharding.rules))
  graphdef, params = tart_train.build_head(config, mesh, rules)
  tx = tart_train.optimizer(config)
  opt_state = jax.jit(tx.init, out_shardings=tart_train.opt_shardings(tx, params, mesh))(params)
  step_fn = tart_train.make_train_step(graphdef, tx, config, mesh, rules)
  active = int(config.head.input_dim)
  flat = jax.tree_util.tree_flatten_with_path(params)[0]
  names = {jax.tree_util.keystr(p): int(a.size) for p, a in flat}
  # Matmul weights: the layers' kernels and the two projections (not the position or token tables, not norms).
  matmul = sum(n for k, n in names.items() if k.endswith("['kernel']") or k in ("['read_in']", "['read_out']"))
  live = {"params": params, "opt": opt_state, "i": 0, "out": None}

  def run(n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
      live["params"], live["opt"], live["out"] = step_fn(live["params"], live["opt"], jnp.int32(live["i"]),
                                                         active=active, points=points)
      live["i"] += 1
    jax.block_until_ready((live["params"], live["out"]))
    return time.perf_counter() - t0

  t0 = time.perf_counter()
  run(warmup)
  info = {"params": sum(names.values()), "matmul_params": matmul, "warmup_incl_compile_s": time.perf_counter() - t0,
          "devices": int(mesh.devices.size), "mesh": distributed.describe(mesh),
          "scan_layers": bool(config.head.scan_layers), "dtype": str(config.head.dtype)}
  return info, run, lambda: float(jax.device_get(live["out"])["loss"])


def reference(config, points: int, *, warmup: int, batch: int):
  """(info, run(n) -> seconds for n steps) for TART's architecture: GPT2Model + read-in/out, torch AdamW."""
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  h = config.head
  d, width, layers, positions = int(h.input_dim), int(h.width), int(h.layers), 2 * points
  torch.manual_seed(0)
  # The released code keeps GPT-2's 50257-row token table, unused under inputs_embeds (it gets no gradient, so
  # AdamW skips it); one row here keeps the parameter count to what is trained. Positions as our table: 2 x
  # max_points, so that both count the same position parameters.
  gpt_cfg = transformers.GPT2Config(vocab_size=1, n_positions=max(2 * int(h.max_points), positions), n_embd=width,
                                    n_layer=layers, n_head=int(h.heads), resid_pdrop=0.0, embd_pdrop=0.0,
                                    attn_pdrop=0.0, use_cache=False, bos_token_id=None, eos_token_id=None,
                                    attn_implementation="sdpa")
  backbone = transformers.GPT2Model(gpt_cfg).float().train()
  read_in, read_out = torch.nn.Linear(d, width), torch.nn.Linear(width, 1)
  modules = torch.nn.ModuleList([read_in, backbone, read_out]).train()
  opt = torch.optim.AdamW(modules.parameters(), lr=1e-4)
  gen = torch.Generator().manual_seed(0)

  def sample():
    xs = torch.randn(batch, points, d, generator=gen)
    ws = ALPHA * torch.randn(batch, d, generator=gen)
    ys = torch.bernoulli(torch.sigmoid(torch.einsum("bnd,bd->bn", xs, ws)), generator=gen)
    labels = torch.zeros_like(xs)
    labels[..., 0] = ys
    return torch.stack([xs, labels], dim=2).reshape(batch, positions, d), ys

  def one():
    seq, ys = sample()
    hidden = backbone(inputs_embeds=read_in(seq)).last_hidden_state
    logits = read_out(hidden)[:, 0::2, 0]
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, ys)
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss.detach()

  live = {"loss": None}

  def run(n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
      live["loss"] = one()
    return time.perf_counter() - t0

  t0 = time.perf_counter()
  run(warmup)
  named = dict(modules.named_parameters())
  # Matmul weights: GPT-2's Conv1D weights (2-D) and the two Linear weights, not the wte/wpe tables.
  matmul = sum(p.numel() for k, p in named.items() if p.dim() == 2 and not k.endswith(("wte.weight", "wpe.weight")))
  info = {"params": sum(p.numel() for p in named.values()), "matmul_params": int(matmul),
          "warmup_s": time.perf_counter() - t0, "torch_threads": torch.get_num_threads(),
          "attn_implementation": backbone.config._attn_implementation,  # pylint: disable=protected-access
          "n_positions": gpt_cfg.n_positions, "vocab_size": gpt_cfg.vocab_size}
  return info, run, lambda: float(live["loss"])


def measure(runners: dict, *, rounds: int, steps: int, batch: int) -> dict:
  """Alternates rounds of each so that a change in machine load hits both; median and best round."""
  times = {name: [] for name in runners}
  for _ in range(rounds):
    for name, run in runners.items():
      times[name].append(run(steps) / steps)
  return {name: {"step_s": float(np.median(t)), "sequences_per_s": batch / float(np.median(t)),
                 "best_step_s": float(min(t)), "best_sequences_per_s": batch / float(min(t)),
                 "step_s_per_round": t} for name, t in times.items()}


def compare(config, points: int, args) -> dict:
  h = config.head
  positions = 2 * points
  info_ours, run_ours, loss_ours = ours(config, points, warmup=args.warmup)
  info_ref, run_ref, loss_ref = reference(config, points, warmup=args.warmup, batch=args.batch)
  timed = measure({"ours": run_ours, "reference": run_ref}, rounds=args.rounds, steps=args.steps, batch=args.batch)
  row = {"points": points, "positions": positions, "batch": args.batch}
  for name, info, loss in (("ours", info_ours, loss_ours), ("reference", info_ref, loss_ref)):
    flops = train_flops_per_sequence(info["matmul_params"], int(h.layers), int(h.width), positions)
    t = timed[name]
    row[name] = dict(info, **t, loss_last=loss(), flops_per_sequence=flops,
                     gflops_per_s=flops * t["sequences_per_s"] / 1e9)
  row["ratio"] = row["ours"]["sequences_per_s"] / row["reference"]["sequences_per_s"]
  row["best_round_ratio"] = row["ours"]["best_sequences_per_s"] / row["reference"]["best_sequences_per_s"]
  row["flops_ratio"] = row["ours"]["flops_per_sequence"] / row["reference"]["flops_per_sequence"]
  row["load_average_1m"] = os.getloadavg()[0]
  return row


def machine(torch_threads: int) -> dict:
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
          "cpu_count": os.cpu_count(), "jax_devices": jax.device_count(), "torch_threads": torch_threads,
          "jax": jax.__version__, "torch": torch.__version__, "transformers": transformers.__version__,
          "xla_flags": os.environ.get("XLA_FLAGS", "")}


def print_table(out: dict) -> None:
  m = out["machine"]
  print(f"TART head training, {m['processor']}, {m['cpu_count']} CPUs (jax {m['jax']}, {m['jax_devices']} device; "
        f"torch {m['torch']}, {m['torch_threads']} threads; transformers {m['transformers']})")
  print("| points (positions) | trainer | params (matmul) | batch | GFLOP / sequence | sequences/s (median round) | "
        "sequences/s (best round) | GFLOP/s | ours / reference, median / best |")
  print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
  names = (("ours", "meta_rfft.tart (JAX, 1 CPU device)"), ("reference", "GPT2Model + torch AdamW (TART)"))
  for r in out["rows"]:
    for key, label in names:
      x = r[key]
      ratio = f"{r['ratio']:.2f} / {r['best_round_ratio']:.2f}" if key == "ours" else ""
      print(f"| {r['points']} ({r['positions']}) | {label} | {x['params'] / 1e6:.2f}M "
            f"({x['matmul_params'] / 1e6:.2f}M) | {r['batch']} | {x['flops_per_sequence'] / 1e9:.2f} | "
            f"{x['sequences_per_s']:.2f} | {x['best_sequences_per_s']:.2f} | {x['gflops_per_s']:.0f} | {ratio} |")
  for r in out["rows"]:
    print(f"points {r['points']}: step seconds per round: ours {[round(t, 3) for t in r['ours']['step_s_per_round']]}"
          f", reference {[round(t, 3) for t in r['reference']['step_s_per_round']]}; last loss ours "
          f"{r['ours']['loss_last']:.3f}, reference {r['reference']['loss_last']:.3f}; ours compile + warm-up "
          f"{r['ours']['warmup_incl_compile_s']:.1f}s; load average {r['load_average_1m']:.1f}")


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--points", default="66,258", help="comma-separated examples per sequence (2 positions each)")
  parser.add_argument("--batch", type=int, default=16, help="sequences per step (the paper trains with 128)")
  parser.add_argument("--warmup", type=int, default=2, help="untimed steps each, per points (ours: includes compile)")
  parser.add_argument("--rounds", type=int, default=3, help="rounds, alternating the two trainers")
  parser.add_argument("--steps", type=int, default=3, help="timed steps per round")
  parser.add_argument("--quick", action="store_true", help="smoke run: points 10, batch 4, 1 warm-up, 2 rounds of 1")
  parser.add_argument("--out", default=None,
                      help=f"JSON file (default {RESULTS.relative_to(ROOT)}; --quick: {RESULTS.stem}_quick.json)")
  args = parser.parse_args()
  if args.quick:
    args.points, args.batch, args.warmup, args.rounds, args.steps = "10", 4, 1, 2, 1
  points = [int(p) for p in args.points.split(",") if p]
  if not points or min(points) < 1 or min(args.batch, args.warmup + 1, args.rounds, args.steps) < 1:
    parser.error("--points, --batch, --rounds and --steps must be positive, --warmup at least 0")
  out_path = pathlib.Path(args.out) if args.out else RESULTS.with_name(
      f"{RESULTS.stem}_quick.json" if args.quick else RESULTS.name)

  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(os.cpu_count() or 1)
  if jax.device_count() > 1:
    print(f"warning: {jax.device_count()} JAX devices (XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}); the "
          "comparison is meant for one CPU device, unset the device-count flag", file=sys.stderr)
  config = load_config_file(str(CONFIG))
  config.train.batch_size = args.batch
  config.head.max_points = max(int(config.head.max_points), *points)
  t_start = time.perf_counter()
  rows = []
  for p in points:
    rows.append(compare(config, p, args))
    print(f"[tart_throughput] points {p}: ours {rows[-1]['ours']['sequences_per_s']:.2f} seq/s, reference "
          f"{rows[-1]['reference']['sequences_per_s']:.2f} seq/s ({time.perf_counter() - t_start:.0f}s so far)",
          flush=True)
  h = config.head
  out = {
      "machine": machine(torch.get_num_threads()),
      "settings": {"config": str(CONFIG.relative_to(ROOT)), "quick": args.quick, "batch": args.batch,
                   "warmup": args.warmup, "rounds": args.rounds, "steps_per_round": args.steps, "alpha": ALPHA,
                   "head": {k: h[k] for k in ("input_dim", "max_points", "width", "layers", "heads", "mlp", "dtype",
                                              "scan_layers", "remat_policy")},
                   "ours_optimizer": "optax.adam (configs/tart.py optim)", "reference_optimizer":
                   "torch.optim.AdamW(lr=1e-4)", "flops_formula":
                   "6 * matmul_params * positions + 12 * layers * width * positions^2"},
      "rows": rows,
      "total_s": time.perf_counter() - t_start,
  }
  out_path.parent.mkdir(parents=True, exist_ok=True)
  with open(out_path, "w") as f:
    json.dump(out, f, indent=2)
  print(f"wrote {out_path}")
  print_table(out)


if __name__ == "__main__":
  main()
