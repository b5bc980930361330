"""Benchmark: single-pass vs N-pass training on the same multi-turn conversations (2, 4, 8, 16 turns).

  python tests/benchmarks/single_pass_speedup.py [--task lc_258] [--lengths 1,2] [--conversations 2] [--repeats 2]

Conversations of 16 turns are generated from a rule task (rf format: the rule once, a trace per turn); the
2/4/8-turn sets are their first turns, so every setting trains on the same conversations. A BPE tokenizer is
trained locally on their text. For each turn count, both methods pack the same conversations into rows of
the same length (the longest single-pass row, rounded up to 128, as one trainer config would); N-pass also
runs at its own shorter row length (its longest example), and the speedup is against the faster. Each runs ONE
training step (forward, backward with full remat, AdamW update; compiled beforehand) on all rows at once; timed
`--repeats` times (median). Reported: time per conversation, speedup (N-pass time / single-pass time), peak
memory of the step (XLA's buffer assignment: arguments + outputs + temporaries - donated aliases), rows and
tokens. Writes tests/benchmarks/results/single_pass_speedup.json and prints the README table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from flax import nnx  # noqa: E402
from tokenizers import Tokenizer, models, pre_tokenizers, trainers  # noqa: E402

from meta_rfft.config.defaults import tiny_arch  # noqa: E402
from meta_rfft.model import Decoder, from_hf_config  # noqa: E402
from meta_rfft.multiturn import layout  # noqa: E402
from meta_rfft.multiturn.batches import examples_of  # noqa: E402
from meta_rfft.multiturn.generate import generate  # noqa: E402
from meta_rfft.multiturn.model_io import weighted_nll  # noqa: E402
from meta_rfft.multiturn.packing import pack  # noqa: E402
from meta_rfft.multiturn.tokenize import TextEncoder, tokenize_conversation  # noqa: E402
from meta_rfft.tasks import registry  # noqa: E402

TURNS = (2, 4, 8, 16)
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "single_pass_speedup.json")


def train_tokenizer(conversations, vocab_size: int) -> TextEncoder:
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
  def step(params, opt_state, batch):
    def loss(p):
      total, tokens = weighted_nll(nnx.merge(graphdef, p), batch)
      return total / tokens
    value, grads = jax.value_and_grad(loss)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, value
  return jax.jit(step, donate_argnums=(0, 1))


def peak_bytes(compiled) -> int | None:
  m = compiled.memory_analysis()
  if m is None:
    return None
  return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes)


def run_method(graphdef, params, tx, batch, repeats):
  step = make_step(graphdef, tx)
  opt_state = tx.init(params)
  t0 = time.perf_counter()
  compiled = step.lower(params, opt_state, batch).compile()
  compile_s = time.perf_counter() - t0
  times, losses = [], []
  p, o = jax.tree.map(lambda x: x.copy(), (params, opt_state))
  for _ in range(repeats):
    fresh = jax.tree.map(lambda x: x.copy(), (params, opt_state))  # every timed step starts from the same state
    jax.block_until_ready(fresh)
    t0 = time.perf_counter()
    p, o, loss = compiled(*fresh, batch)
    jax.block_until_ready((p, o, loss))
    times.append(time.perf_counter() - t0)
    losses.append(float(loss))
  return dict(step_seconds=statistics.median(times), step_seconds_all=times, compile_seconds=compile_s,
              peak_memory_bytes=peak_bytes(compiled), loss=losses[0])


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--task", default="lc_258")
  ap.add_argument("--lengths", default="1,2", help="instance lengths of the questions")
  ap.add_argument("--conversations", type=int, default=2, help="conversations per training step")
  ap.add_argument("--repeats", type=int, default=2)
  ap.add_argument("--remat", default="full", help="model.remat_policy (dense attention on long rows is big)")
  ap.add_argument("--hidden", type=int, default=128)
  ap.add_argument("--layers", type=int, default=4)
  ap.add_argument("--out", default=RESULTS)
  args = ap.parse_args()

  task = registry.get_task(args.task)
  convs = generate(task, max(TURNS), args.conversations, [int(x) for x in args.lengths.split(",")], seed=0)
  encoder, vocab = train_tokenizer(convs, 2048)
  full = [tokenize_conversation(c, encoder) for c in convs]
  arch = tiny_arch(vocab, hidden_size=args.hidden, layers=args.layers, intermediate_size=3 * args.hidden)
  model = Decoder(from_hf_config(arch, remat_policy=args.remat), rngs=nnx.Rngs(0))
  graphdef, params = nnx.split(model)
  tx = optax.adamw(1e-3)

  rows_out = []
  print(f"load average at start: {os.getloadavg()}", flush=True)
  for turns in TURNS:
    convs_t = [c[:turns] for c in full]
    seq_len = round_up(max(layout.single_pass_length(c) for c in convs_t))
    own_len = round_up(max(max(layout.n_pass_lengths(c)) for c in convs_t))
    entry = dict(turns=turns, seq_len=seq_len, n_pass_own_seq_len=own_len,
                 trained_tokens=sum(layout.trained_tokens(c) for c in convs_t))
    # n_pass twice: at the single-pass row length (one trainer config for both) and at its own shortest row
    # length (the best N-pass setting: dense attention costs rows x length^2); the speedup is against the faster.
    for name, method, length in (("single_pass", "single_pass", seq_len), ("n_pass", "n_pass", seq_len),
                                 ("n_pass_own_len", "n_pass", own_len)):
      examples = [e for c in convs_t for e in examples_of(c, method)]
      batch, _ = pack(examples, length)
      res = run_method(graphdef, params, tx, batch, args.repeats)
      res.update(rows=int(batch["input_tokens"].shape[0]), seq_len=length,
                 tokens=int((batch["segment_ids"] > 0).sum()),
                 seconds_per_conversation=res["step_seconds"] / len(convs_t))
      assert batch["loss_weights"].sum() == entry["trained_tokens"]
      entry[name] = res
      print(f"turns={turns:2d} {name:14s} rows={res['rows']:3d}x{length:<5d} tokens={res['tokens']:6d} "
            f"step={res['step_seconds']:.3f}s loss={res['loss']:.6f} "
            f"peak={res['peak_memory_bytes'] / 2**20:.1f} MiB", flush=True)
    sp = entry["single_pass"]["step_seconds"]
    best = min(entry["n_pass"]["step_seconds"], entry["n_pass_own_len"]["step_seconds"])
    entry["speedup"] = best / sp
    entry["speedup_same_row_length"] = entry["n_pass"]["step_seconds"] / sp
    entry["token_ratio"] = entry["n_pass"]["tokens"] / entry["single_pass"]["tokens"]
    # All three compute the same loss: a check that the benchmark compares equal work.
    entry["loss_max_abs_diff"] = max(abs(entry[k]["loss"] - entry["single_pass"]["loss"])
                                     for k in ("n_pass", "n_pass_own_len"))
    rows_out.append(entry)

  result = dict(
      benchmark="single_pass_speedup", task=args.task, lengths=args.lengths, conversations=args.conversations,
      repeats=args.repeats, model=dict(arch, num_params=from_hf_config(arch).num_params,
                                       remat_policy=args.remat),
      load_average_at_end=os.getloadavg(),
      device=str(jax.devices()[0].device_kind), platform=jax.default_backend(), devices=jax.device_count(),
      cpu_count=os.cpu_count(), python=platform.python_version(), jax=jax.__version__,
      time_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), results=rows_out)
  os.makedirs(os.path.dirname(args.out), exist_ok=True)
  tmp = args.out + ".tmp"
  with open(tmp, "w") as f:
    json.dump(result, f, indent=1)
  os.replace(tmp, args.out)
  print(f"\nwrote {args.out}\n")
  print("| turns | tokens N-pass / single | single-pass ms/conv | N-pass ms/conv (same rows / own rows) | "
        "speedup (vs faster N-pass) | peak MiB single-pass | peak MiB N-pass (same / own) |")
  print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
  for e in rows_out:
    s, n, o = e["single_pass"], e["n_pass"], e["n_pass_own_len"]
    ms = lambda r: f"{1e3 * r['seconds_per_conversation']:.0f}"  # noqa: E731
    mib = lambda r: f"{r['peak_memory_bytes'] / 2**20:.0f}"  # noqa: E731
    print(f"| {e['turns']} | {e['token_ratio']:.2f} | {ms(s)} | {ms(n)} / {ms(o)} | {e['speedup']:.2f}x | "
          f"{mib(s)} | {mib(n)} / {mib(o)} |")

if __name__ == "__main__":
  main()
