"""The one-shot synthetic set as TFDS data: built once per setting, read back like the task data.

Like the task data (tfds_data.py), the synthetic examples are rendered once, in Python, when the dataset is
built; training only reads strings. Layout: `<data_dir>/meta_rfft_synthetic_tfds/<settings.name>/1.0.0/`.

Settings (`data.synthetic`, all optional; defaults are the paper's 100k samples):
  num_train (100000), num_validation (1000): examples per split;
  lengths ("1-15"): the lengths cycled through (example k has length lengths[k % len(lengths)]);
  seed (0): example k of a split uses sample seed `seed * 10_000_000 + OFFSET[split] + k`.
Features: task ("synthetic"), length, seed, answer, rf_1shot_inputs, rf_1shot_targets (the names the task
data uses for that format). Building renders every example in Python, in one process, which is why it happens
once per setting (data/DATA_CARD.md's `synthetic` row gives the targets' lengths).
The defaults live in the default data config (meta_rfft/data/config.py), so `--config.data.synthetic.num_train=...`
works on the command line.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from typing import Any, Iterator, Mapping

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from etils import epath

from meta_rfft.data.config import SYNTHETIC_DEFAULTS
from meta_rfft.data import tfds_build
from meta_rfft.tasks import snippet_tasks
from meta_rfft.tasks.cli import parse_lengths

DATASET_NAME = "meta_rfft_synthetic_tfds"
VERSION = "1.0.0"
SPLITS = ("train", "validation")
SEED_OFFSET = {"train": 0, "validation": 4_000_000}
MAX_EXAMPLES = 4_000_000  # per split: keeps the seed ranges of the splits disjoint
DEFAULTS = SYNTHETIC_DEFAULTS
FMT = snippet_tasks.FORMAT
RENDER_VERSION = 1  # bump when the rendered text changes, so that an old build is not reused
log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SyntheticSettings:
  seed: int
  lengths: tuple[int, ...]
  counts: tuple[tuple[str, int], ...]  # (split, number of examples), splits with 0 examples left out

  @property
  def name(self) -> str:
    blob = json.dumps({"v": RENDER_VERSION, "programs": snippet_tasks.NUM_PROGRAMS, "seed": self.seed,
                       "lengths": self.lengths, "counts": self.counts})
    return "s" + hashlib.sha1(blob.encode()).hexdigest()[:12]


def resolve(data_cfg: Mapping[str, Any]) -> SyntheticSettings:
  """`data.synthetic` (optional) with defaults; errors name the key."""
  given = data_cfg.get("synthetic", None) or {}
  given = dict(given.items()) if hasattr(given, "items") else dict(given)
  unknown = set(given) - set(DEFAULTS)
  if unknown:
    raise ValueError(f"data.synthetic: unknown keys {sorted(unknown)}; keys: {sorted(DEFAULTS)}")
  cfg = {**DEFAULTS, **dict(given)}
  try:
    lengths = tuple(parse_lengths(str(cfg["lengths"])))
  except ValueError as e:
    raise ValueError(f"data.synthetic.lengths: {e}") from None
  counts = []
  for split in SPLITS:
    n = int(cfg[f"num_{split}"])
    if not 0 <= n <= MAX_EXAMPLES:
      raise ValueError(f"data.synthetic.num_{split} must be in 0..{MAX_EXAMPLES}, got {n}")
    if n:
      counts.append((split, n))
  if not counts:
    raise ValueError("data.synthetic: num_train and num_validation are both 0")
  return SyntheticSettings(seed=int(cfg["seed"]), lengths=lengths, counts=tuple(counts))


def generate(settings: SyntheticSettings, split: str, n: int) -> Iterator[tuple[str, dict[str, Any]]]:
  for k in range(n):
    length = settings.lengths[k % len(settings.lengths)]
    seed = settings.seed * 10_000_000 + SEED_OFFSET[split] + k
    e = snippet_tasks.make_example(length, seed)
    yield f"{split}/{k}", {"task": "synthetic", "length": length, "seed": seed, "answer": e.answer,
                          f"{FMT}_inputs": e.inputs, f"{FMT}_targets": e.targets}


class SyntheticConfig(tfds.core.BuilderConfig):

  def __init__(self, settings: SyntheticSettings):
    super().__init__(name=settings.name, version=VERSION, description=f"synthetic set {settings.counts}")
    self.settings = settings


class MetaRfftSyntheticTfds(tfds.core.GeneratorBasedBuilder):
  """The one-shot synthetic list-editing examples, pre-rendered in the rf_1shot format."""

  VERSION = tfds.core.Version(VERSION)
  # Where TFDS looks for the builder's (optional) metadata files. Given explicitly: for a class inside a
  # package TFDS would resolve it with importlib_resources, which is not installed.
  code_path = epath.Path(os.path.abspath(__file__))
  pkg_dir_path = code_path.parent

  def _info(self) -> tfds.core.DatasetInfo:
    features = {"task": tfds.features.Text(), "length": tfds.features.Scalar(dtype=np.int32),
                "seed": tfds.features.Scalar(dtype=np.int64), "answer": tfds.features.Text(),
                f"{FMT}_inputs": tfds.features.Text(), f"{FMT}_targets": tfds.features.Text()}
    return self.dataset_info_from_configs(features=tfds.features.FeaturesDict(features))

  def _split_generators(self, dl_manager):
    settings = self.builder_config.settings
    return {split: self._generate_examples(split, n) for split, n in settings.counts}

  def _generate_examples(self, split, n):
    yield from generate(self.builder_config.settings, split, n)


def ensure_built(data_cfg: Mapping[str, Any]) -> tuple[SyntheticSettings, Any]:
  """Builds the snippet set of this setting unless it exists (tfds_build's lock rule)."""
  settings = resolve(data_cfg)
  data_dir = tfds_build.resolve_data_dir(str(data_cfg["data_dir"]))
  path = tfds_build.dataset_dir(data_dir, DATASET_NAME, settings.name, VERSION)
  tfds_build.ensure_built(path, data_dir, lambda: MetaRfftSyntheticTfds(config=SyntheticConfig(settings),
                                                                         data_dir=str(data_dir)),
                          "the one-shot snippet set")
  return settings, path


def read_split(path: str, split: str, shuffle_files: bool = False,
               seed: int | None = None) -> tf.data.Dataset:
  return tfds_build.read_split(path, split, f"the snippet set in {path} has no {split!r} split "
                               f"(data.synthetic.num_{split} = 0)", shuffle_files, seed)
