"""The stages of the pipeline (each writes into its own folder: layout.py); stage_runner.py runs them once each."""
from __future__ import annotations

import os
import shutil
import sys

import ml_collections

from meta_rfft.data.vocab import HfTokenizerVocabulary
from meta_rfft.evaluate.config import default_eval_config
from meta_rfft.evaluate.examples import lengths_of
from meta_rfft.pipeline import hf_build
from meta_rfft.tasks import formats, registry, user_tasks
from meta_rfft.train.config import base_config
from meta_rfft.train.trainer import train


def user_tasks_of(cfg) -> str:
  """config.data.user_tasks as the stages pass it on: as absolute paths, which a stage's run config keeps,
  so that its evaluation (or a later one, from another folder) finds the modules."""
  return ",".join(user_tasks.entries(cfg.data.get("user_tasks", "")))


def parse_task_ids(text: str) -> list[str]:
  return [t.strip() for t in str(text).split(",") if t.strip()]


def task_list(text: str, split: str, key: str) -> list[str]:
  """The task ids of a config key ("" = every task of `split`), each registered and in `split`."""
  ids = parse_task_ids(text)
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


def check_task_lengths(cfg, tasks_by_key: list[tuple[str, list[str]]]) -> None:
  """Every task named for a config.data.<key> lengths setting has instances at those lengths."""
  for key, tasks in tasks_by_key:
    lengths = lengths_of(cfg.data[key])
    for t in map(registry.get_task, tasks):
      if not any(n >= t.min_length and (t.max_length is None or n <= t.max_length) for n in lengths):
        raise ValueError(f"config.data.{key}={cfg.data[key]!r}: task {t.id!r} has no instance at these lengths "
                         f"(its lengths start at {t.min_length})")


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


def mix_in_replay(c: ml_collections.ConfigDict, task: str, pretrain: list[str], fraction: float) -> None:
  """In place: a fraction `fraction` of an adaptation's examples drawn from the pretraining tasks (equal shares),
  the rest from the held-out task."""
  if not 0.0 < fraction < 1.0:
    raise ValueError(f"config.replay.fraction={fraction!r} must lie strictly between 0 and 1")
  c.data.mixture = ",".join([task] + list(pretrain))
  c.data.mixing_rates = ",".join([f"{task}={1.0 - fraction!r}"] + [f"{t}={fraction / len(pretrain)!r}" for t in pretrain])


def eval_config(cfg, section: ml_collections.ConfigDict, *, label: str, tasks: str, train_lengths: str):
  """The evaluation config (meta_rfft/evaluate/config.py) of a pipeline stage: `section` (the experiment's `eval`,
  the models job's `card_eval`) gives lengths, samples_per_length, batch_size, max_new_factor, max_new_extra and,
  if it has one, decoding."""
  e = default_eval_config()
  e.label = label
  e.tasks = tasks
  e.user_tasks = user_tasks_of(cfg)
  e.formats = cfg.format
  e.lengths = section.lengths
  e.samples_per_length = int(section.samples_per_length)
  e.train_lengths = train_lengths
  e.seed = 0  # the test instances of the data build: the same for every seed and arm
  e.batch_size = int(section.batch_size)
  e.max_new_factor = float(section.max_new_factor)
  e.max_new_extra = int(section.max_new_extra)
  if "decoding" in section:
    e.decoding = section.decoding
  e.model.dtype = cfg.model.dtype  # not scan_layers: decoding picks its own (evaluate.config.decode_scan_layers)
  e.mesh = cfg.mesh
  e.sharding = cfg.sharding
  return e


def run_training(train_cfg: ml_collections.ConfigDict, workdir: str) -> dict:
  result = train(train_cfg, workdir, ["meta_rfft.pipeline", f"--workdir={workdir}"])
  if result.stop_reason == "preempted":  # SIGTERM: the trainer saved; exit as every command does on SIGTERM
    print(f"[pipeline] stopped by SIGTERM while training in {workdir} (its checkpoint is saved); rerun the same "
          "command to resume", file=sys.stderr, flush=True)
    raise SystemExit(143)
  if result.stop_reason not in ("done", "early_stopping"):
    raise RuntimeError(f"training in {workdir} stopped: {result.stop_reason}; rerun the pipeline to resume")
  losses = result.losses
  first = losses[min(losses)] if losses else None
  last = losses[max(losses)] if losses else None
  return {"workdir": workdir, "step": result.step, "first_loss": first, "last_loss": last}
