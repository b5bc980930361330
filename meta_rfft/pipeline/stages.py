"""The stages of the pipeline (each writes into its own folder: layout.py) and the resumable stage runner."""
from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any, Callable

import ml_collections

from meta_rfft.tasks import formats, registry, user_tasks


class StageRunner:
  """Runs named stages once: a finished stage leaves DIR/stages/<name>.json (its wall and CPU seconds and its
  result) and is skipped on reruns. Names may hold "/" (e.g. `seed_0/lc_258/meta`): sub-folders of stages/."""

  def __init__(self, stages_dir: str, log: Callable[[str], None] = print):
    self.dir = stages_dir
    os.makedirs(self.dir, exist_ok=True)
    self.log = log

  def path(self, name: str) -> str:
    return os.path.join(self.dir, f"{name}.json")

  def done(self, name: str) -> dict | None:
    if os.path.exists(self.path(name)):
      with open(self.path(name)) as f:
        return json.load(f)
    return None

  def run(self, name: str, fn: Callable[[], Any]) -> Any:
    record = self.done(name)
    if record is not None:
      self.log(f"[pipeline] {name}: already done ({record['seconds']:.0f} s), skipped")
      return record["result"]
    self.log(f"[pipeline] {name}: running")
    start, cpu_start = time.perf_counter(), time.process_time()
    result = fn()
    # process_time counts every thread of this process (XLA's and tf.data's included): the CPU the stage cost.
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    path = self.path(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
      json.dump({"seconds": seconds, "cpu_seconds": cpu, "result": result}, f, indent=2)
    os.replace(path + ".tmp", path)
    self.log(f"[pipeline] {name}: done in {seconds:.0f} s ({cpu:.0f} s CPU)")
    return result

  def records(self) -> dict[str, dict]:
    """Every finished stage's record, by name, in the order they finished."""
    found = []
    for folder, _, files in os.walk(self.dir):
      for name in files:
        if name.endswith(".json"):
          full = os.path.join(folder, name)
          found.append((os.path.getmtime(full), os.path.relpath(full, self.dir)[:-5], full))
    out = {}
    for _, name, full in sorted(found):
      with open(full) as f:
        record = json.load(f)
      out[name.replace(os.sep, "/")] = {"seconds": record["seconds"], "cpu_seconds": record.get("cpu_seconds")}
    return out


def user_tasks_of(cfg) -> str:
  """config.data.user_tasks as the stages pass it on: as absolute paths, which a stage's run config keeps,
  so that its evaluation (or a later one, from another folder) finds the modules."""
  return ",".join(user_tasks.entries(cfg.data.get("user_tasks", "")))


def task_list(text: str, split: str, key: str) -> list[str]:
  ids = [t.strip() for t in str(text).split(",") if t.strip()]
  if not ids:
    return [t.id for t in registry.tasks_in_split(split)]
  for t in ids:
    try:
      task = registry.get_task(t)
    except ValueError as e:
      raise ValueError(f"config.{key}: {e}") from None
    if task.split != split:
      raise ValueError(f"config.{key}: task {t!r} is in split {task.split!r}, not {split!r}")
  return ids


def tokenizer_texts(task_ids: list[str], lengths: list[int], per_length: int, fmt: str = "rf") -> list[str]:
  """Prompts and traces of the tasks, to train the local tokenizer on (train-split seeds)."""
  texts = []
  for tid in task_ids:
    task = registry.get_task(tid)
    for length in lengths:
      if length < task.min_length or (task.max_length is not None and length > task.max_length):
        continue
      for seed in range(per_length):
        ex = formats.make_example(task, length, seed, fmt)
        texts += [ex.inputs, ex.targets]
  return texts


def build_tokenizer(cfg, out_dir: str, tasks: list[str]) -> dict:
  """The BPE tokenizer of the locally built models, trained on every pipeline task's text."""
  from meta_rfft.data.vocab import HfTokenizerVocabulary
  from meta_rfft.evaluate.examples import lengths_of
  from meta_rfft.pipeline import hf_build
  b = cfg.base
  tmp = out_dir + ".tmp"
  shutil.rmtree(tmp, ignore_errors=True)
  texts = tokenizer_texts(tasks, lengths_of(b.tokenizer_lengths), int(b.tokenizer_per_length), cfg.format)
  vocab = hf_build.train_tokenizer(texts, tmp, int(b.vocab_size), merges=str(b.tokenizer_merges))
  eos = HfTokenizerVocabulary(tmp).eos_id
  os.replace(tmp, out_dir)
  return {"tokenizer_dir": out_dir, "vocab_size": vocab, "eos_id": eos}


def build_base(cfg, out_dir: str, tokenizer: dict, seed: int) -> dict:
  """One seed's starting model: a random-initialised Qwen2 (transformers' own init) beside the tokenizer."""
  from meta_rfft.pipeline import hf_build
  b = cfg.base
  tmp = out_dir + ".tmp"
  shutil.rmtree(tmp, ignore_errors=True)
  shutil.copytree(tokenizer["tokenizer_dir"], tmp)
  hf_build.build_qwen2(tmp, vocab_size=int(tokenizer["vocab_size"]), eos_token_id=int(tokenizer["eos_id"]),
                       hidden_size=int(b.hidden_size), num_layers=int(b.num_layers), num_heads=int(b.num_heads),
                       num_kv_heads=int(b.num_kv_heads), intermediate_size=int(b.intermediate_size),
                       max_position_embeddings=int(b.max_position_embeddings), seed=seed,
                       rope_theta=float(b.rope_theta))
  os.replace(tmp, out_dir)
  return {"hf_dir": out_dir}


def train_config(cfg, stage: ml_collections.ConfigDict, *, init: str, mixture: str, build_tasks: list[str],
                 pretrain_lengths: str, data_dir: str, seed: int) -> ml_collections.ConfigDict:
  """A trainer config (meta_rfft.train.config.base_config) for one training stage of the pipeline.

  `pretrain_lengths`: the rf_pretrain tasks' train lengths of this stage's data build (the long or the short
  RF-pretraining; a build holds one set of lengths per kind of task)."""
  from meta_rfft.train.config import base_config
  c = base_config()
  for key in ("param_dtype", "dtype", "scan_layers", "remat_policy"):
    c.model[key] = cfg.model[key]
  c.mesh = cfg.mesh
  c.sharding = cfg.sharding
  c.init.checkpoint = init
  c.init.seed = seed
  d = cfg.data
  c.data.mixture = mixture
  c.data.format = cfg.format
  c.data.vocab = ""  # the tokenizer of the checkpoint the stage starts from
  c.data.data_dir = data_dir
  c.data.seq_len = int(stage.seq_len)
  c.data.seed = seed
  c.data.positions = d.positions
  c.data.position_range = int(d.position_range)
  c.data.recall_max_length = int(d.recall_max_length)
  c.data.user_tasks = user_tasks_of(cfg)
  b = c.data.build
  b.seed = 0  # the task instances: the same for every seed and arm
  b.tasks = ",".join(build_tasks)
  b.rf_pretrain_formats = cfg.format
  b.heldout_formats = cfg.format
  b.splits.train.rf_pretrain.lengths = pretrain_lengths
  b.splits.train.rf_pretrain.per_length = int(d.pretrain_per_length)
  b.splits.train.heldout.lengths = d.adapt_lengths
  b.splits.train.heldout.per_length = int(d.adapt_per_length)
  b.splits.validation.rf_pretrain.lengths = pretrain_lengths
  b.splits.validation.rf_pretrain.per_length = int(d.validation_per_length)
  b.splits.validation.heldout.lengths = d.adapt_lengths
  b.splits.validation.heldout.per_length = int(d.validation_per_length)
  b.splits.test.rf_pretrain.per_length = 0
  b.splits.test.heldout.per_length = 0  # evaluation renders the test instances itself
  c.adapter.method = stage.adapter
  c.adapter.rank = int(stage.rank)
  c.train.steps = int(stage.steps)
  c.train.batch_size = int(stage.batch_size)
  c.optim.learning_rate = float(stage.learning_rate)
  c.optim.warmup_steps = int(stage.warmup_steps)
  c.optim.schedule = str(stage.schedule)
  c.optim.final_lr_fraction = float(stage.final_lr_fraction)
  c.eval.every = 0  # the pipeline measures accuracy instead of validation loss
  c.eval.batches = 1
  c.checkpoint.every = int(cfg.checkpoint_every)
  c.checkpoint.keep = 1
  c.log_every = int(cfg.log_every)
  return c


def run_training(train_cfg: ml_collections.ConfigDict, workdir: str) -> dict:
  from meta_rfft.train.trainer import train
  result = train(train_cfg, workdir, ["meta_rfft.pipeline", f"--workdir={workdir}"])
  if result.stop_reason not in ("done", "early_stopping"):
    raise RuntimeError(f"training in {workdir} stopped: {result.stop_reason}; rerun the pipeline to resume")
  losses = result.losses
  first = losses[min(losses)] if losses else None
  last = losses[max(losses)] if losses else None
  return {"workdir": workdir, "step": result.step, "first_loss": first, "last_loss": last}
