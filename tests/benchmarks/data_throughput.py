"""Packed tokens per second the `rf_pretrain` mixture delivers on one CPU core at sequence length 2048.

Compared in one run with the tokens per second a training step consumes: a 7B model on one TPU v5e-8 host,
6 * 7e9 FLOPs per token at 8 chips x 197 bf16 TFLOP/s and 40% MFU = about 15k tokens/s; the goal is 5x that
(75k tokens/s), so that one core of the host keeps the step fed with room to spare.

Run from the repo root: `.venv/bin/python tests/benchmarks/data_throughput.py [--per_length 20]`.
Builds (once, into --data_dir) the rf_pretrain tasks at lengths 1-15 with --per_length examples each, then
times the batch iterator (shuffled mixture -> tokenise -> convert -> pack -> batch) for --seconds, for the
character vocabulary and for a byte-level BPE tokenizer.json (trained here on rendered examples: no
download). Writes tests/benchmarks/results/data_throughput.json.
"""
import argparse
import json
import os
import pathlib
import platform
import sys
import time

os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one CPU core, before TF starts threads
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tokenizers  # noqa: E402
from tokenizers import decoders, models, pre_tokenizers, trainers  # noqa: E402

from meta_rfft.data import config, pipeline, tfds_data  # noqa: E402
from meta_rfft.data import vocab as vocab_lib  # noqa: E402
from meta_rfft.tasks import formats, registry  # noqa: E402

SEQ_LEN = 2048
CONSUMED_7B_V5E8 = 8 * 197e12 * 0.40 / (6 * 7e9)  # tokens/s a 7B training step consumes on one v5e-8 host
GOAL = 5 * CONSUMED_7B_V5E8


def train_tokenizer(path: pathlib.Path) -> pathlib.Path:
  texts = []
  for task in registry.tasks_in_split("rf_pretrain"):
    for length in (max(2, task.min_length), max(8, task.min_length)):
      e = formats.make_example(task, length, 0, "rf")
      texts += [e.inputs, e.targets]
  tok = tokenizers.Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  tok.train_from_iterator(texts, trainers.BpeTrainer(
      vocab_size=4000, special_tokens=["<|endoftext|>"],
      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
  path.mkdir(parents=True, exist_ok=True)
  tok.save(str(path / "tokenizer.json"))
  return path / "tokenizer.json"


def measure(cfg, vocab, seconds: float, batch: int, warmup_batches: int) -> dict:
  start = time.time()
  it = pipeline.make_batch_iterator(cfg, vocab, seq_len=SEQ_LEN, host_batch_size=batch, seed=0)
  build_s = time.time() - start
  # Start-up (graph tracing, filling every task's shuffle buffer once) is reported apart from the steady
  # rate, which is what a long training run sees.
  for _ in range(warmup_batches):
    next(it)
  setup = time.time() - start
  tokens = padded = batches = 0
  start = time.time()
  while time.time() - start < seconds:
    b = next(it)
    tokens += int((b["segment_ids"] > 0).sum())
    padded += b["segment_ids"].size
    batches += 1
  elapsed = time.time() - start
  return {"packed_tokens_per_s": tokens / elapsed, "rows_per_s": batches * batch / elapsed,
          "fill": tokens / padded, "batches": batches, "pipeline_construction_s": build_s,
          "startup_s_incl_warmup": setup, "warmup_batches": warmup_batches,
          "dropped_examples": it.dropped_examples, "goal_met": tokens / elapsed >= GOAL}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--data_dir", default="/tmp/meta_rfft_bench_tfds")
  parser.add_argument("--per_length", type=int, default=20)
  parser.add_argument("--seconds", type=float, default=20.0)
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--warmup_batches", type=int, default=40)
  args = parser.parse_args()
  tf.config.threading.set_inter_op_parallelism_threads(1)
  tf.config.threading.set_intra_op_parallelism_threads(1)

  cfg = config.default_data_config()
  cfg.data_dir = args.data_dir
  cfg.build.tasks = ",".join(t.id for t in registry.tasks_in_split("rf_pretrain"))
  cfg.build.rf_pretrain_formats = "rf"
  cfg.build.splits.train.rf_pretrain.per_length = args.per_length
  cfg.build.splits.validation.rf_pretrain.per_length = 0
  start = time.time()
  settings, path = tfds_data.ensure_built(cfg)
  build_s = time.time() - start
  n_examples = sum(p.num_examples for p in settings.parts)

  results = {}
  tok_path = train_tokenizer(pathlib.Path(args.data_dir) / "bench_tokenizer")
  for name, vocab in (("char", vocab_lib.CharVocabulary()),
                      ("bpe_tokenizer_json", vocab_lib.make_vocabulary(str(tok_path)))):
    results[name] = measure(cfg, vocab, args.seconds, args.batch, args.warmup_batches)
    print(name, json.dumps(results[name]), flush=True)

  out = {
      "benchmark": "data_throughput", "mixture": "meta_rfft.rf_pretrain.rf", "seq_len": SEQ_LEN,
      "cpu_cores": 1, "tasks": len(registry.tasks_in_split("rf_pretrain")), "examples_built": n_examples,
      "build_s_or_0_if_reused": build_s, "reference_consumed_tokens_per_s_7b_v5e8": CONSUMED_7B_V5E8,
      "goal_tokens_per_s": GOAL, "shuffle_buffer_per_task": cfg.shuffle_buffer, "results": results,
      "python": sys.version.split()[0],
      "machine": platform.processor() or platform.machine(),
      "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
  }
  dest = pathlib.Path(__file__).parent / "results" / "data_throughput.json"
  dest.parent.mkdir(exist_ok=True)
  dest.write_text(json.dumps(out, indent=2) + "\n")
  print(f"wrote {dest}")


if __name__ == "__main__":
  main()
