"""The pipeline's folder layout: the one place that names what lives where under DIR.

DIR/
  shipped/<name>/                the shipped models the arms start from (pretrained=shipped), converted
  tokenizer/                     the BPE tokenizer trained on the task text (built models only; shared by seeds)
  data/                          TFDS builds every training stage reads (one per distinct build config)
  seed_<s>/
    hf_base/                     the starting HF model of this seed (built locally; or config.hf_checkpoint)
    base_ckpt/                   its conversion (`hf_to_orbax`)
    base_recall/                 trainer WORKDIR: the converted model trained on the recall corpus (only with
                                 config.base_pretrain.steps > 0); then the base model every arm starts from
    rf_pretrain/                 trainer WORKDIR: RF-pretraining at data.pretrain_lengths (arm meta)
    rf_pretrain_short/           trainer WORKDIR: RF-pretraining at data.control_lengths (arm control)
    <task>/<arm>/                trainer WORKDIR: the adaptation of one arm to one held-out task
    <task>/<arm>/eval/           its evaluation beyond the adaptation lengths (report.json, samples.jsonl, ...)
  models/<name>/                 job=models: an exported model with its card (card.json, card.md, loss.png)
  model_checks/<name>/           job=models: that export converted back (ckpt/) and evaluated (eval/) for its card
  export_hf/                     the first seed's Meta-RFFT model of the first task, in HF format (hf_check.json)
  stages/                        one JSON per finished stage (wall and CPU seconds, result); a rerun skips those
  report.md, report.json, accuracy_vs_length.png   the experiment's report
"""
from __future__ import annotations

import os

from meta_rfft import layouts

# Which pretrained model each arm adapts: a pretraining kind, or the base model itself.
ARM_INIT = {"meta": "long", "vanilla": "base", "control": "short", "replay": "long"}
PRETRAIN_DIRS = {"long": "rf_pretrain", "short": "rf_pretrain_short"}
# The shipped model (data/pretrained/<name>/) that stands for each kind of starting model.
SHIPPED_NAMES = {"base": "base", "long": "rf_pretrained", "short": "rf_control"}


class Layout:

  def __init__(self, root: str, base_recall: bool = False, shipped: bool = False):
    """`base_recall`: the arms start from the recall-trained base (base_recall/), not from base_ckpt/.
    `shipped`: they start from the shipped models, converted into shipped/<name>/ (the same for every seed)."""
    self.root = os.path.abspath(root)
    self.base_recall = base_recall
    self.shipped = shipped

  def path(self, *parts: str) -> str:
    return os.path.join(self.root, *parts)

  @property
  def tokenizer(self) -> str:
    return self.path("tokenizer")

  @property
  def data(self) -> str:
    return self.path("data")

  @property
  def export(self) -> str:
    return self.path("export_hf")

  @property
  def hf_check(self) -> str:
    return os.path.join(self.export, "hf_check.json")

  @property
  def stages(self) -> str:
    return self.path("stages")

  def seed(self, seed: int) -> str:
    return self.path(f"seed_{seed}")

  def hf_base(self, seed: int) -> str:
    return os.path.join(self.seed(seed), "hf_base")

  def base_ckpt(self, seed: int) -> str:
    return os.path.join(self.seed(seed), "base_ckpt")

  def recall(self, seed: int) -> str:
    return os.path.join(self.seed(seed), "base_recall")

  def shipped_ckpt(self, name: str) -> str:
    """A shipped model (data/pretrained/<name>/) converted for this experiment."""
    return self.path("shipped", name)

  def base(self, seed: int) -> str:
    """The base model of a seed: what vanilla RFFT adapts and RF-pretraining starts from."""
    if self.shipped:
      return self.shipped_ckpt(SHIPPED_NAMES["base"])
    return self.recall(seed) if self.base_recall else self.base_ckpt(seed)

  def pretrain(self, seed: int, kind: str) -> str:
    if self.shipped:
      return self.shipped_ckpt(SHIPPED_NAMES[kind])
    return os.path.join(self.seed(seed), PRETRAIN_DIRS[kind])

  def init_of(self, seed: int, arm: str) -> str:
    """The checkpoint an arm's adaptation starts from."""
    kind = ARM_INIT[arm]
    return self.base(seed) if kind == "base" else self.pretrain(seed, kind)

  def arm(self, seed: int, task: str, arm: str) -> str:
    return os.path.join(self.seed(seed), task, arm)

  def eval_report(self, seed: int, task: str, arm: str) -> str:
    return os.fspath(layouts.Workdir.at(self.arm(seed, task, arm)).eval.report_json)

  def eval_samples(self, seed: int, task: str, arm: str) -> str:
    return os.fspath(layouts.Workdir.at(self.arm(seed, task, arm)).eval.samples)

  def model(self, name: str) -> str:
    """A model `job=models` exports, with its card (DIR/models/<name>/)."""
    return self.path("models", name)

  def model_check(self, name: str) -> str:
    """Where a model `job=models` exported is measured: its files converted back (ckpt/) and evaluated (eval/)."""
    return self.path("model_checks", name)

  def model_check_ckpt(self, name: str) -> str:
    return os.path.join(self.model_check(name), "ckpt")

  def report(self, ext: str) -> str:
    return self.path("accuracy_vs_length.png" if ext == "png" else f"report.{ext}")
