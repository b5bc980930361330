"""The stages of the main job, each writing into its own folder of DIR, and the resumable stage runner.

DIR/
  hf_base/        the starting HF checkpoint (built locally, or a copy-free reference to config.hf_checkpoint)
  base_ckpt/      its conversion (`hf_to_orbax`)
  data/           the TFDS build every training stage reads (one build, shared)
  rf_pretrain/    trainer WORKDIR: RF-pretraining on the rf_pretrain tasks
  adapt_meta/     trainer WORKDIR: adaptation of the RF-pretrained model to the held-out task (Meta-RFFT)
  adapt_vanilla/  trainer WORKDIR: adaptation of the base model to the same task (vanilla RFFT)
  */eval/         evaluation of each adapted model beyond the training lengths
  export_hf/      the Meta-RFFT model exported back to HF, checked in transformers (hf_check.json)
  stages/         one JSON per finished stage (seconds, result); a rerun skips those
"""
from __future__ import annotations

import json
import os
import time
from typing import Any, Callable

import ml_collections

from meta_rfft.tasks import formats, registry


class StageRunner:
  """Runs named stages once: a finished stage leaves DIR/stages/<name>.json and is skipped on reruns."""

  def __init__(self, workdir: str, log: Callable[[str], None] = print):
    self.dir = os.path.join(workdir, "stages")
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
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    tmp = self.path(name) + ".tmp"
    with open(tmp, "w") as f:
      json.dump({"seconds": seconds, "result": result}, f, indent=2)
    os.replace(tmp, self.path(name))
    self.log(f"[pipeline] {name}: done in {seconds:.0f} s")
    return result

  def timings(self) -> dict[str, float]:
    """Seconds per finished stage, in the order they finished."""
    names = [n for n in os.listdir(self.dir) if n.endswith(".json")]
    out = {}
    for name in sorted(names, key=lambda n: os.path.getmtime(os.path.join(self.dir, n))):
      with open(os.path.join(self.dir, name)) as f:
        out[name[:-5]] = json.load(f)["seconds"]
    return out


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


def build_base(cfg, out_dir: str, pretrain: list[str], heldout: str) -> dict:
  """The local starting model: a BPE tokenizer trained on the task text and a random Qwen2 model."""
  from meta_rfft.evaluate.examples import lengths_of
  from meta_rfft.pipeline import hf_build
  b = cfg.base
  tmp = out_dir + ".tmp"
  texts = tokenizer_texts(pretrain + [heldout], lengths_of(b.tokenizer_lengths), int(b.tokenizer_per_length))
  vocab = hf_build.train_tokenizer(texts, tmp, int(b.vocab_size))
  from meta_rfft.data.vocab import HfTokenizerVocabulary
  eos = HfTokenizerVocabulary(tmp).eos_id
  hf_build.build_qwen2(tmp, vocab_size=vocab, eos_token_id=eos, hidden_size=int(b.hidden_size),
                       num_layers=int(b.num_layers), num_heads=int(b.num_heads), num_kv_heads=int(b.num_kv_heads),
                       intermediate_size=int(b.intermediate_size),
                       max_position_embeddings=int(b.max_position_embeddings), seed=int(b.seed))
  os.replace(tmp, out_dir)
  return {"hf_dir": out_dir, "vocab_size": vocab, "eos_id": eos}


def train_config(cfg, stage: ml_collections.ConfigDict, *, init: str, mixture: str, build_tasks: list[str],
                 data_dir: str) -> ml_collections.ConfigDict:
  """A trainer config (meta_rfft.train.config.base_config) for one training stage of the pipeline."""
  from meta_rfft.train.config import base_config
  c = base_config()
  for key in ("param_dtype", "dtype", "scan_layers", "remat_policy"):
    c.model[key] = cfg.model[key]
  c.mesh = cfg.mesh
  c.sharding = cfg.sharding
  c.init.checkpoint = init
  c.init.seed = int(cfg.seed)
  d = cfg.data
  c.data.mixture = mixture
  c.data.format = "rf"
  c.data.vocab = ""  # the tokenizer of the checkpoint the stage starts from
  c.data.data_dir = data_dir
  c.data.seq_len = int(d.seq_len)
  c.data.seed = int(cfg.seed)
  b = c.data.build
  b.seed = int(cfg.seed)
  b.tasks = ",".join(build_tasks)
  b.rf_pretrain_formats = "rf"
  b.heldout_formats = "rf"
  b.splits.train.rf_pretrain.lengths = d.pretrain_lengths
  b.splits.train.rf_pretrain.per_length = int(d.pretrain_per_length)
  b.splits.train.heldout.lengths = d.adapt_lengths
  b.splits.train.heldout.per_length = int(d.adapt_per_length)
  b.splits.validation.rf_pretrain.lengths = d.pretrain_lengths
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
  c.optim.schedule = "warmup_cosine"
  c.optim.final_lr_fraction = 0.1
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
