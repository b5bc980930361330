"""The RF-traces part of decode_throughput.py: our greedy and prompt-lookup decoders and HF's, on rule-following
traces of a model trained to emit them (rf_traces.py). Run through decode_throughput.py --parts traces."""
from __future__ import annotations

import json
import os
import tempfile
import time

import jax
import numpy as np
import torch
import transformers

from meta_rfft.convert import load_model
from meta_rfft.evaluate.config import decode_scan_layers, default_eval_config
from meta_rfft.evaluate.decode import GreedyDecoder
from meta_rfft.sharding.mesh import make_mesh
from meta_rfft.sharding.rules import DEFAULT_RULES

# What the evaluation decodes with on a CPU (unrolled layers, unless configs/eval.py says otherwise).
EVAL_SCAN_LAYERS = decode_scan_layers(default_eval_config().model.scan_layers, jax.devices("cpu"))


def _ours_traces(ckpt: str, prompts, limit: int, dtype: str, method: str, k: int, n: int):
  """Our decoder on the trace prompts at batch len(prompts): (rows, best seconds, tokens per model call)."""
  mesh = make_mesh((1, -1, 1), devices=jax.devices("cpu")[:1])
  options = dict(scan_layers=EVAL_SCAN_LAYERS, dtype=dtype) | (dict(param_dtype=dtype) if dtype != "float32" else {})
  model = load_model(ckpt, mesh, DEFAULT_RULES, **options)
  vocab_eos = model.config.arch.eos_token_id
  # The generation bucket is the limit itself: both methods attend over the same cache length.
  dec = GreedyDecoder(model, eos_ids=vocab_eos, pad_id=vocab_eos, batch_size=len(prompts), mesh=mesh,
                      rules=DEFAULT_RULES, method=method, draft_tokens=k, max_ngram=n, new_token_buckets=(limit,))
  dec.decode(prompts, limit)  # compile + first run
  dec.stats = type(dec.stats)()
  # The trace decodes run for minutes each: one timed call after the compiling one.
  t0 = time.perf_counter()
  out = dec.decode(prompts, limit)
  seconds = time.perf_counter() - t0
  return out, seconds, dec.stats.tokens_per_forward


def _hf_traces(hf_dir: str, prompts, limit: int, eos: int, batch: int, **generate_kwargs):
  """HF generate over the prompts, `batch` at a time (left-padded), stopping at EOS: (rows, seconds)."""
  model = transformers.AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
  rows, seconds = [], 0.0
  with torch.no_grad():
    for start in range(0, len(prompts), batch):
      chunk = prompts[start:start + batch]
      width = max(len(p) for p in chunk)
      ids = torch.tensor([[eos] * (width - len(p)) + p for p in chunk])
      mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk])
      kwargs = dict(attention_mask=mask, do_sample=False, eos_token_id=eos, pad_token_id=eos, **generate_kwargs)
      if start == 0:
        model.generate(input_ids=ids, max_new_tokens=8, **kwargs)  # warm-up
      t0 = time.perf_counter()
      out = model.generate(input_ids=ids, max_new_tokens=limit, **kwargs)
      seconds += time.perf_counter() - t0
      for row in out[:, width:].tolist():
        rows.append(row[:row.index(eos) + 1] if eos in row else row)
  return rows, seconds


def run_traces(lengths, batch: int, hf_lookup_prompts: int, draft_tokens: list[int], n: int, bf16_max_length: int,
               log=print) -> list[dict]:
  """Real rule-following traces: the methods compared per length (docs/performance.md "Decode throughput", RF traces)."""
  import rf_traces
  root = os.path.join(tempfile.gettempdir(), "meta_rfft_rf_trace_model")
  info = rf_traces.train_model(root, log)
  hf_dir, ckpt = info["hf_dir"], info["ckpt"]
  eos = transformers.AutoConfig.from_pretrained(hf_dir).eos_token_id
  rows = []
  for length in lengths:
    prompts, refs, examples = rf_traces.prompts_at(hf_dir, length, batch)
    # One limit for every row (HF generate takes one): the evaluator's, 1.3 x the longest reference + 16.
    limit = int(1.3 * max(len(r) for r in refs)) + 16
    row = {"length": length, "batch": batch, "limit": limit, "reference_tokens_mean": float(np.mean(
        [len(r) + 1 for r in refs])), "prompt_tokens_max": max(len(p) for p in prompts)}
    greedy, s_greedy, _ = _ours_traces(ckpt, prompts, limit, "float32", "greedy", 1, n)
    tokens = sum(len(r) for r in greedy)
    row["prompt_lookup"] = {}
    for draft in draft_tokens:
      lookup, s_lookup, calls = _ours_traces(ckpt, prompts, limit, "float32", "prompt_lookup", draft, n)
      row["prompt_lookup"][str(draft)] = {
          "tokens_per_s": sum(len(r) for r in lookup) / s_lookup, "tokens_per_forward": calls,
          "speedup_over_greedy": s_greedy / s_lookup,
          "rows_identical_float32": sum(a == b for a, b in zip(greedy, lookup))}
    k = max(draft_tokens)
    hf_out, s_hf = _hf_traces(hf_dir, prompts, limit, eos, batch)
    few = prompts[:hf_lookup_prompts]
    hf_pl, s_hf_pl = _hf_traces(hf_dir, few, limit, eos, 1, prompt_lookup_num_tokens=k, max_matching_ngram_size=n)
    few_tokens = sum(len(r) for r in hf_pl)
    row.update({
        "generated_tokens": tokens, "generated_tokens_mean": tokens / batch,
        "accuracy": rf_traces.accuracy(hf_dir, greedy, examples),
        "ours_greedy_tokens_per_s": tokens / s_greedy, "max_ngram": n, "hf_draft_tokens": k,
        "hf_greedy_tokens_per_s": sum(len(r) for r in hf_out) / s_hf,
        "rows_identical_to_hf": sum(a == b for a, b in zip(greedy, hf_out)),
        "hf_prompt_lookup_batch1_prompts": len(few),
        "hf_prompt_lookup_batch1_tokens_per_s": few_tokens / s_hf_pl,
        "hf_prompt_lookup_rows_identical": sum(a == b for a, b in zip(greedy, hf_pl)),
    })
    if length <= bf16_max_length:
      bf_greedy, _, _ = _ours_traces(ckpt, prompts, limit, "bfloat16", "greedy", 1, n)
      bf_lookup, _, _ = _ours_traces(ckpt, prompts, limit, "bfloat16", "prompt_lookup", k, n)
      row["bfloat16_rows_differing"] = sum(a != b for a, b in zip(bf_greedy, bf_lookup))
      # Where each differing row first differs, and how long the rows are: a flip late in a row is a near-tie
      # met after many tokens, not a broken decoder.
      row["bfloat16_first_difference"] = [
          next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
          for a, b in zip(bf_greedy, bf_lookup) if a != b]
    log(f"rf traces, length {length}: {json.dumps(row)}")
    rows.append(row)
  return rows, info["training"]


def print_traces(rows) -> None:
  drafts = sorted({int(k) for r in rows for k in r["prompt_lookup"]})
  print("| length | tokens/row (ref.) | accuracy | ours greedy tok/s | "
        + " | ".join(f"ours prompt lookup k={k} tok/s (speedup, tokens/call)" for k in drafts)
        + " | HF generate b32 tok/s | HF prompt lookup b1 tok/s | f32 rows identical | bf16 rows differing |")
  print("|---" * (8 + len(drafts)) + "|")
  for r in rows:
    cells = [f"{p['tokens_per_s']:.0f} (**{p['speedup_over_greedy']:.2f}x**, {p['tokens_per_forward']:.2f})"
             for p in (r["prompt_lookup"][str(k)] for k in drafts)]
    identical = ", ".join(f"{r['prompt_lookup'][str(k)]['rows_identical_float32']}" for k in drafts)
    bf16 = f"{r['bfloat16_rows_differing']}/{r['batch']}" if "bfloat16_rows_differing" in r else "not run"
    print(f"| {r['length']} | {r['generated_tokens_mean']:.0f} ({r['reference_tokens_mean']:.0f}) | "
          f"{100 * r['accuracy']:.0f}% | {r['ours_greedy_tokens_per_s']:.0f} | " + " | ".join(cells)
          + f" | {r['hf_greedy_tokens_per_s']:.0f} | {r['hf_prompt_lookup_batch1_tokens_per_s']:.0f} | "
          f"{identical} of {r['batch']} | {bf16} |")
