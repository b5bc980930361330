"""The experiment's starting models when `pretrained=shipped`: the HF checkpoints in data/pretrained/ (written by
`job=models`, each with its card), checked against the experiment's config and converted once for every seed."""
from __future__ import annotations

import os
import shutil

from meta_rfft import shipped
from meta_rfft.convert import hf_to_orbax
from meta_rfft.pipeline import card as card_lib
from meta_rfft.pipeline.layout import ARM_INIT, SHIPPED_NAMES, Layout
from meta_rfft.pipeline.stage_runner import StageRunner
from meta_rfft.pipeline.stages import parse_task_ids


def needed(arms: list[str]) -> list[str]:
  """The shipped models the arms start from, in data/pretrained/'s order."""
  names = {SHIPPED_NAMES[ARM_INIT[a]] for a in arms}
  return [n for n in shipped.PRETRAINED_MODELS if n in names]


def check(cfg, arms: list[str]) -> list[str]:
  """The shipped models' pretraining tasks, once the config agrees with what their cards say they were trained
  on; else a ValueError naming the config key."""
  if cfg.hf_checkpoint:
    raise ValueError("config.hf_checkpoint is set while config.pretrained='shipped': the shipped models are the "
                     "starting models; add --config.pretrained=train to start from the checkpoint and RF-pretrain it")
  cards = {n: card_lib.read(shipped.pretrained_model(n, cfg.pretrained_dir)) for n in needed(arms)}
  name, card = next(iter(cards.items()))
  trained = card["config"]
  where = f"the shipped models' card ({os.path.join(shipped.pretrained_model(name, cfg.pretrained_dir), 'card.json')})"
  if cfg.format != trained["format"]:
    raise ValueError(f"config.format={cfg.format!r}, but the shipped models were RF-pretrained on "
                     f"{trained['format']!r} traces ({where}); set it to {trained['format']!r}, or add "
                     "--config.pretrained=train to pretrain in another format")
  pretrain = parse_task_ids(trained["pretrain_tasks"])
  own = parse_task_ids(cfg.pretrain_tasks)
  if own and own != pretrain:
    raise ValueError(f"config.pretrain_tasks={cfg.pretrain_tasks!r}, but the shipped models were RF-pretrained on "
                     f"{','.join(pretrain)} ({where}); leave it empty, or add --config.pretrained=train")
  if "replay" in arms and cfg.data.pretrain_lengths != trained["data"]["pretrain_lengths"]:
    raise ValueError(f"config.data.pretrain_lengths={cfg.data.pretrain_lengths!r}: the replay arm replays the "
                     f"pretraining data at the lengths it was trained on, {trained['data']['pretrain_lengths']!r} "
                     f"({where})")
  return pretrain


def convert_all(cfg, lay: Layout, runner: StageRunner, arms: list[str]) -> tuple[str, dict[str, str]]:
  """Converts each needed shipped model into DIR/shipped/<name>/ (float32, the trainer's master weights). Returns
  how the report names them, and each kind's stage (Layout's `base`, `long`, `short`)."""
  stages = {}
  for name in needed(arms):
    src = shipped.pretrained_model(name, cfg.pretrained_dir)
    out = lay.shipped_ckpt(name)
    # The files' digests are the stage's settings: a replaced shipped model is converted (and adapted) anew.
    digests = {f: card_lib.file_sha256(os.path.join(src, f)) for f in sorted(os.listdir(src))
               if f.endswith(".safetensors") or f in ("config.json", "tokenizer.json")}

    def convert(src=src, out=out):
      shutil.rmtree(out, ignore_errors=True)  # a half-written conversion from an interrupted run
      return {"ckpt": hf_to_orbax(src, out, dtype="float32"), "source": src}
    stages[name] = f"shipped/{name}"
    runner.run(stages[name], convert, settings={"source": src, "files": digests}, clear=[out])
  folder = cfg.pretrained_dir or os.path.relpath(shipped.PRETRAINED_DIR, shipped.REPO_ROOT)
  desc = (f"the shipped models in `{folder}/` (" + ", ".join(f"`{n}`" for n in needed(arms))
          + "; each folder's card.md says how it was trained), converted once and shared by every seed")
  return desc, {kind: stages[name] for kind, name in SHIPPED_NAMES.items() if name in stages}
