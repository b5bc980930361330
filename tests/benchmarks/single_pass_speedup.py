"""Benchmark: single-pass vs N-pass training on the same multi-turn conversations (2, 4, 8, 16 turns).

  python tests/benchmarks/single_pass_speedup.py [--task lc_258] [--lengths 1,2] [--conversations 2]

Conversations of 16 turns are generated from a rule task (rf format: the rule once, a trace per turn); the
2/4/8-turn sets are their first turns, so every setting trains on the same conversations. A BPE tokenizer is
trained locally on their text. For each turn count, each method packs the conversations into rows as short as
its longest example allows (rounded up to 128): long rows for single pass, short ones for N-pass. ONE training
step per method (loss and gradients accumulated over the rows one row at a time, as the trainer's
micro-batches do, then an AdamW update; compiled beforehand), timed `--repeats` times; the minimum is reported
(the machine is shared, the minimum is the least disturbed run). Reported per method: time per conversation,
peak memory of the step (XLA's buffer assignment: arguments + outputs + temporaries - donated aliases; one
row's activations at a time), the step's forward + backward FLOPs (XLA's cost analysis), rows and tokens; the
speedup is N-pass time / single-pass time. Also, without running it, the FLOPs of the same step for a
Qwen2.5-7B-shaped model on the same rows (our attention included): the time ratio to expect where the
step is compute-bound. Writes tests/benchmarks/results/single_pass_speedup.json and prints the docs/performance.md table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from flax import nnx  # noqa: E402
from tokenizers import Tokenizer, models, pre_tokenizers, trainers  # noqa: E402

from meta_rfft.config.defaults import tiny_arch  # noqa: E402
from meta_rfft.model import Decoder, from_hf_config  # noqa: E402
from meta_rfft.multiturn import token_layout as layout  # noqa: E402
from meta_rfft.multiturn.batches import examples_of  # noqa: E402
from meta_rfft.multiturn.generate import generate  # noqa: E402
from meta_rfft.multiturn.model_io import weighted_nll  # noqa: E402
from meta_rfft.multiturn.packing import pack  # noqa: E402
from meta_rfft.multiturn.tokenize import TextEncoder, tokenize_conversation  # noqa: E402
from meta_rfft.tasks import registry  # noqa: E402

TURNS = (2, 4, 8, 16)
METHODS = ("single_pass", "n_pass")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "single_pass_speedup.json")
# Qwen2.5-7B's shape, for the FLOP count only (never materialised).
QWEN_7B = dict(model_type="qwen2", vocab_size=152064, hidden_size=3584, intermediate_size=18944,
               num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4, rope_theta=1e6,
               rms_norm_eps=1e-6, tie_word_embeddings=False)
QWEN_7B_CFG = from_hf_config(QWEN_7B, param_dtype="bfloat16", dtype="bfloat16")


def train_tokenizer(conversations, vocab_size: int):
  texts = [x for c in conversations for t in c.turns for x in (t.user, t.reasoning, t.answer)]
  tok = Tokenizer(models.BPE(unk_token="<unk>"))
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.train_from_iterator(texts, trainers.BpeTrainer(
      vocab_size=vocab_size, special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
  return TextEncoder.from_tokenizers(tok, eos_token="</s>", bos_token="<s>"), tok.get_vocab_size()


def round_up(n: int, multiple: int = 128) -> int:
  return -(-n // multiple) * multiple


def make_step(graphdef, tx):
  """One training step over all rows of the batch, accumulating loss and gradients one row at a time."""
  def step(params, opt_state, batch):
    def row_grads(carry, row):
      g_acc, l_acc, n_acc = carry
      def loss(p):
        return weighted_nll(nnx.merge(graphdef, p), jax.tree.map(lambda x: x[None], row))
      (l, n), g = jax.value_and_grad(loss, has_aux=True)(params)
      return (jax.tree.map(jnp.add, g_acc, g), l_acc + l, n_acc + n), None
    zeros = jax.tree.map(jnp.zeros_like, params)
    (grads, loss_sum, tokens), _ = jax.lax.scan(row_grads, (zeros, 0.0, 0.0), batch)
    grads = jax.tree.map(lambda g: g / tokens, grads)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss_sum / tokens
  return jax.jit(step, donate_argnums=(0, 1))


def cost(lowered) -> float:
  c = lowered.cost_analysis()
  c = c[0] if isinstance(c, (list, tuple)) else c
  return float(c["flops"])


def peak_bytes(compiled) -> int:
  m = compiled.memory_analysis()
  return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes)


def run_method(graphdef, params, tx, batch, repeats):
  step = make_step(graphdef, tx)
  opt_state = tx.init(params)
  t0 = time.perf_counter()
  compiled = step.lower(params, opt_state, batch).compile()
  compile_s = time.perf_counter() - t0
  times, loss = [], None
  for _ in range(repeats):
    # Every timed step starts from the same state (the step donates its inputs).
    fresh = jax.tree.map(lambda x: x.copy(), (params, opt_state))
    jax.block_until_ready(fresh)
    t0 = time.perf_counter()
    out = compiled(*fresh, batch)
    jax.block_until_ready(out)
    times.append(time.perf_counter() - t0)
    loss = float(out[2])
  return dict(step_seconds=min(times), step_seconds_all=times, compile_seconds=compile_s,
              peak_memory_bytes=peak_bytes(compiled), loss=loss)


def step_flops(cfg, batch) -> float:
  """FLOPs of the step's forward + backward over all rows (XLA's cost analysis of one row, times the rows).

  Counted on one row because XLA counts a loop body once; layers unrolled and no remat for the same reason
  (this counts the algorithm's FLOPs, not recomputation). The optimizer update is left out: the same for both.
  """
  cfg = cfg.replace(scan_layers=False, remat_policy="none")
  graphdef, params = nnx.split(nnx.eval_shape(lambda: Decoder(cfg, rngs=nnx.Rngs(0))))
  rows, length = batch["input_tokens"].shape
  row = {k: jax.ShapeDtypeStruct((1, length), v.dtype) for k, v in batch.items()}

  def grads(p, b):
    return jax.grad(lambda p: weighted_nll(nnx.merge(graphdef, p), b)[0])(p)
  return rows * cost(jax.jit(grads).lower(params, row))


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--task", default="lc_258")
  ap.add_argument("--lengths", default="1,2", help="instance lengths of the questions")
  ap.add_argument("--conversations", type=int, default=2, help="conversations per training step")
  ap.add_argument("--repeats", type=int, default=2)
  # A wide single-layer model: per-token work large next to the attention over a row, as in real LLMs
  # (see docs/performance.md); few heads, since on a CPU the softmax over heads x length^2 scores is slow.
  ap.add_argument("--hidden", type=int, default=768)
  ap.add_argument("--layers", type=int, default=1)
  ap.add_argument("--heads", type=int, default=4)
  ap.add_argument("--kv-heads", type=int, default=2)
  ap.add_argument("--remat", default="full", help="model.remat_policy")
  ap.add_argument("--no-7b-flops", action="store_true", help="skip the FLOP count of the 7B-shaped step")
  ap.add_argument("--out", default=RESULTS)
  args = ap.parse_args()

  task = registry.get_task(args.task)
  convs = generate(task, max(TURNS), args.conversations, [int(x) for x in args.lengths.split(",")], seed=0)
  encoder, vocab = train_tokenizer(convs, 2048)
  full = [tokenize_conversation(c, encoder) for c in convs]
  arch = tiny_arch(vocab, hidden_size=args.hidden, layers=args.layers, heads=args.heads,
                   kv_heads=args.kv_heads, intermediate_size=3 * args.hidden)
  model_cfg = from_hf_config(arch, remat_policy=args.remat, scan_layers=False)
  graphdef, params = nnx.split(Decoder(model_cfg, rngs=nnx.Rngs(0)))
  tx = optax.adamw(1e-3)

  rows_out = []
  load_start = os.getloadavg()
  print(f"load average at start: {load_start}", flush=True)
  for turns in TURNS:
    convs_t = [c[:turns] for c in full]
    entry = dict(turns=turns, trained_tokens=sum(layout.trained_tokens(c) for c in convs_t))
    for method in METHODS:
      examples = [e for c in convs_t for e in examples_of(c, method)]
      seq_len = round_up(max(e["input_tokens"].size for e in examples))
      batch, _ = pack(examples, seq_len)
      assert batch["loss_weights"].sum() == entry["trained_tokens"]
      res = run_method(graphdef, params, tx, batch, args.repeats)
      res["flops"] = step_flops(model_cfg, batch)
      res.update(rows=int(batch["input_tokens"].shape[0]), seq_len=seq_len,
                 tokens=int((batch["segment_ids"] > 0).sum()),
                 seconds_per_conversation=res["step_seconds"] / len(convs_t))
      if not args.no_7b_flops:
        res["flops_qwen2.5_7b_shape"] = step_flops(QWEN_7B_CFG, batch)
      entry[method] = res
      print(f"turns={turns:2d} {method:11s} rows={res['rows']:3d}x{seq_len:<5d} tokens={res['tokens']:6d} "
            f"step={res['step_seconds']:.3f}s loss={res['loss']:.6f} gflops={res['flops'] / 1e9:.1f} "
            f"peak={res['peak_memory_bytes'] / 2**20:.1f} MiB", flush=True)
    s, n = entry["single_pass"], entry["n_pass"]
    entry["speedup"] = n["step_seconds"] / s["step_seconds"]
    entry["flop_ratio"] = n["flops"] / s["flops"]
    if not args.no_7b_flops:
      entry["flop_ratio_qwen2.5_7b_shape"] = n["flops_qwen2.5_7b_shape"] / s["flops_qwen2.5_7b_shape"]
    entry["token_ratio"] = n["tokens"] / s["tokens"]
    entry["memory_ratio"] = s["peak_memory_bytes"] / n["peak_memory_bytes"]
    # Both methods compute the same loss: a check that the benchmark compares equal work.
    entry["loss_abs_diff"] = abs(n["loss"] - s["loss"])
    rows_out.append(entry)

  result = dict(
      benchmark="single_pass_speedup", task=args.task, lengths=args.lengths, conversations=args.conversations,
      repeats=args.repeats, model=dict(arch, num_params=model_cfg.arch.num_params, remat_policy=args.remat),
      device=str(jax.devices()[0].device_kind), platform=jax.default_backend(), cpu_count=os.cpu_count(),
      load_average_start=load_start, load_average_end=os.getloadavg(), python=platform.python_version(),
      jax=jax.__version__, time_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), results=rows_out)
  os.makedirs(os.path.dirname(args.out), exist_ok=True)
  tmp = args.out + ".tmp"
  with open(tmp, "w") as f:
    json.dump(result, f, indent=1)
  os.replace(tmp, args.out)
  print(f"\nwrote {args.out}\n")
  print("| turns | tokens N-pass / single | rows single / N-pass | single-pass s/conv | N-pass s/conv | "
        "speedup | FLOPs N-pass / single | same, 7B shape | peak MiB single / N-pass |")
  print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
  for e in rows_out:
    s, n = e["single_pass"], e["n_pass"]
    print(f"| {e['turns']} | {e['token_ratio']:.2f} | {s['rows']}x{s['seq_len']} / "
          f"{n['rows']}x{n['seq_len']} | {s['seconds_per_conversation']:.2f} | "
          f"{n['seconds_per_conversation']:.2f} | {e['speedup']:.2f}x | "
          f"{e['flop_ratio']:.2f} | {e.get('flop_ratio_qwen2.5_7b_shape', float('nan')):.2f} | "
          f"{s['peak_memory_bytes'] / 2**20:.0f} / {n['peak_memory_bytes'] / 2**20:.0f} |")


if __name__ == "__main__":
  main()
