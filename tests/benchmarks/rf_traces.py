"""Rule-following traces for the decode benchmark: a small model trained to emit them, and held-out prompts.

The model: a Qwen2 (hidden 128, 4 layers, the demo's size) with a BPE tokenizer that splits words and digits
as real LLM tokenizers do (meta_rfft/pipeline/hf_build.py, merges="words"), trained with transformers and
PyTorch on one task's `rf` examples (prompt, then trace; loss on the trace) and converted with hf_to_orbax,
so that our decoders and Hugging Face's decode the same weights. Training is cached in the model folder: a
rerun with the same settings reuses it.

Prompts: instances the training never drew (seeds from TEST_SEED on), at the benchmark's lengths.
"""
from __future__ import annotations

import json
import os
import shutil
import time

import numpy as np

from meta_rfft.convert import hf_to_orbax
from meta_rfft.data.vocab import encode_texts, make_vocabulary
from meta_rfft.pipeline import hf_build
from meta_rfft.tasks import formats, registry

TASK = "lc_283"  # move zeroes: a loop over a list, the shape of most of the 86 tasks
FORMAT = "rf"
TEST_SEED = 1_000_000  # evaluation instances: seeds no training example used
SETTINGS = dict(task=TASK, format=FORMAT, train_lengths=(1, 12), vocab_size=1024, hidden_size=128, num_layers=4,
                num_heads=4, num_kv_heads=2, intermediate_size=384, steps=1600, batch_size=4, learning_rate=3e-3,
                max_len=2048, seed=0)


def _examples(task, lengths, count: int, first_seed: int):
  return [formats.make_example(task, int(n), first_seed + i, FORMAT) for i, n in enumerate(lengths[:count])]


def train_model(root: str, log=print) -> dict:
  """Trains (or reuses) the trace model in `root`; returns {"hf_dir", "ckpt", "training": {...}}."""
  import torch
  import transformers
  s = SETTINGS
  info_path = os.path.join(root, "trained.json")
  if os.path.exists(info_path):
    with open(info_path) as f:
      info = json.load(f)
    if info.get("settings") == json.loads(json.dumps(s)):
      log(f"rf traces: reusing the model trained in {root}")
      return info | {"hf_dir": os.path.join(root, "hf"), "ckpt": os.path.join(root, "ckpt")}
  shutil.rmtree(root, ignore_errors=True)
  hf_dir = os.path.join(root, "hf")
  task = registry.get_task(s["task"])
  rng = np.random.default_rng(s["seed"])
  lo, hi = s["train_lengths"]
  texts = [t for e in _examples(task, list(rng.integers(lo, hi + 1, size=200)), 200, 0) for t in (e.inputs,
                                                                                                    e.targets)]
  vocab_size = hf_build.train_tokenizer(texts, hf_dir, s["vocab_size"], merges="words")
  vocab = make_vocabulary(hf_dir)
  hf_build.build_qwen2(hf_dir, vocab_size=vocab_size, eos_token_id=vocab.eos_id, hidden_size=s["hidden_size"],
                       num_layers=s["num_layers"], num_heads=s["num_heads"], num_kv_heads=s["num_kv_heads"],
                       intermediate_size=s["intermediate_size"], max_position_embeddings=8192, seed=s["seed"])
  torch.manual_seed(s["seed"])
  model = transformers.AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32)
  model.train()
  opt = torch.optim.AdamW(model.parameters(), lr=s["learning_rate"], weight_decay=0.0)
  sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=s["learning_rate"], total_steps=s["steps"],
                                              pct_start=0.05)
  t0, losses, seed = time.perf_counter(), [], 0
  for step in range(s["steps"]):
    rows = []
    while len(rows) < s["batch_size"]:
      e = formats.make_example(task, int(rng.integers(lo, hi + 1)), seed, FORMAT)
      seed += 1
      prompt, target = encode_texts(vocab, [e.inputs, e.targets])
      ids = [vocab.bos_id] * (vocab.bos_id is not None) + list(prompt)
      row = ids + list(target) + [vocab.eos_id]
      if len(row) <= s["max_len"]:
        rows.append((row, len(ids)))
    width = max(len(r) for r, _ in rows)
    ids = torch.full((len(rows), width), vocab.pad_id)
    labels = torch.full((len(rows), width), -100)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (row, n_prompt) in enumerate(rows):
      ids[i, :len(row)] = torch.tensor(row)
      labels[i, n_prompt:len(row)] = torch.tensor(row[n_prompt:])
      mask[i, :len(row)] = 1
    loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    opt.zero_grad()
    losses.append(float(loss))
    if step % 50 == 0 or step == s["steps"] - 1:
      log(f"rf traces: training step {step}, loss {losses[-1]:.3f}, {time.perf_counter() - t0:.0f} s")
  model.save_pretrained(hf_dir)
  ckpt = hf_to_orbax(hf_dir, os.path.join(root, "ckpt"))
  info = {"settings": s, "hf_dir": hf_dir, "ckpt": ckpt,
          "training": {"seconds": time.perf_counter() - t0, "first_loss": losses[0],
                       "last_loss": float(np.mean(losses[-20:])), "examples": seed}}
  with open(info_path, "w") as f:
    json.dump(info, f, indent=2)
  return info


def prompts_at(hf_dir: str, length: int, count: int):
  """(prompt ids, reference trace ids, examples) of `count` held-out instances at `length`."""
  vocab = make_vocabulary(hf_dir)
  task = registry.get_task(SETTINGS["task"])
  examples = _examples(task, [length] * count, count, TEST_SEED)
  bos = [vocab.bos_id] if vocab.bos_id is not None else []
  prompts = [bos + list(p) for p in encode_texts(vocab, [e.inputs for e in examples])]
  refs = [list(t) for t in encode_texts(vocab, [e.targets for e in examples])]
  return prompts, refs, examples


def accuracy(hf_dir: str, outputs, examples) -> float:
  """The share of outputs whose extracted answer is the reference (the evaluator's scorer)."""
  from meta_rfft.evaluate.decode import strip_eos
  from meta_rfft.tasks.answers import extract_answer
  vocab = make_vocabulary(hf_dir)
  right = 0
  for out, e in zip(outputs, examples):
    right += extract_answer(vocab.decode(strip_eos(out, (vocab.eos_id,)))) == e.answer
  return right / len(examples)
