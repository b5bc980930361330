"""General data files (general_jsonl.py) as TFDS data: one dataset per file content, read back like the task data.

Layout: `<data_dir>/meta_rfft_general_tfds/<settings.name>/1.0.0/`, the name a digest of the file's bytes, the
validation fraction and the seed: an edited file builds a new dataset beside the old one, an unchanged file is
reused wherever it lives. Splits: `validation` holds round(fraction x examples) lines (at least one when the
fraction is above 0 and the file has two or more lines), drawn by a seeded permutation; `train` holds the rest.
The digest also names `data.extra_turns`. Each trained assistant turn of a line is one example (general_jsonl.py),
and the turns of one line stay in one split. Features: task (the file's task name), length (messages in the
context), seed (the line number), turn (which trained turn of the line), answer (the response), prompt (the user
message of a single-turn context, else ""), context (the messages before the answer, as JSON), response.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from typing import Any, Mapping

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from etils import epath

from meta_rfft.data import general_jsonl
from meta_rfft.data import tfds_build

DATASET_NAME = "meta_rfft_general_tfds"
VERSION = "1.0.0"
RENDER_VERSION = 2  # bump when the stored features change, so that an old build is not reused
FIELDS = ("task", "length", "seed", "turn", "answer", "prompt", "context", "response")
log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class GeneralSettings:
  entry: general_jsonl.Entry
  digest: str  # sha1 of the file's bytes
  validation_fraction: float
  seed: int
  turns: str  # data.extra_turns

  @property
  def name(self) -> str:
    blob = json.dumps({"v": RENDER_VERSION, "file": self.digest, "task": self.entry.name,
                       "validation": self.validation_fraction, "seed": self.seed, "turns": self.turns})
    return "g" + hashlib.sha1(blob.encode()).hexdigest()[:12]


def validation_fraction(data_cfg: Mapping[str, Any]) -> float:
  value = float(data_cfg.get("extra_validation", 0.0) or 0.0)
  if not 0.0 <= value < 1.0:
    raise ValueError(f"data.extra_validation must be in [0, 1), got {value}")
  return value


def split_of(records: list[general_jsonl.Record], fraction: float, seed: int) -> dict[str, list]:
  """Lines drawn for validation (a fraction of the lines, by a permutation seeded with `seed` and their number),
  each with all its records."""
  lines = sorted({r.line for r in records})
  n = len(lines)
  n_val = int(round(fraction * n))
  if fraction > 0 and n >= 2:
    n_val = min(max(n_val, 1), n - 1)
  held = {lines[i] for i in np.random.default_rng([seed, n]).permutation(n)[:n_val].tolist()}
  return {"train": [r for r in records if r.line not in held],
          "validation": [r for r in records if r.line in held]}


class GeneralConfig(tfds.core.BuilderConfig):

  def __init__(self, settings: GeneralSettings, splits: dict[str, list]):
    super().__init__(name=settings.name, version=VERSION, description=f"{settings.entry.path} ({settings.digest})")
    self.settings, self.splits = settings, splits


class MetaRfftGeneralTfds(tfds.core.GeneratorBasedBuilder):
  """The lines of one general data file, split into train and validation."""

  VERSION = tfds.core.Version(VERSION)
  # Given explicitly: for a class inside a package TFDS would resolve it with importlib_resources.
  code_path = epath.Path(os.path.abspath(__file__))
  pkg_dir_path = code_path.parent

  def _info(self) -> tfds.core.DatasetInfo:
    text = {k: tfds.features.Text() for k in ("task", "answer", "prompt", "context", "response")}
    features = dict(text, length=tfds.features.Scalar(dtype=np.int32), seed=tfds.features.Scalar(dtype=np.int64),
                    turn=tfds.features.Scalar(dtype=np.int32))
    return self.dataset_info_from_configs(features=tfds.features.FeaturesDict(features))

  def _split_generators(self, dl_manager):
    return {split: self._generate_examples(records) for split, records in self.builder_config.splits.items()
            if records}

  def _generate_examples(self, records):
    name = self.builder_config.settings.entry.name
    for r in records:
      yield f"{r.line}.{r.turn}", {
          "task": name, "length": len(r.context), "seed": r.line, "turn": r.turn, "answer": r.response,
          "prompt": r.context[0][1] if r.single_turn else "", "context": r.context_json(), "response": r.response}


@dataclasses.dataclass(frozen=True)
class Built:
  settings: GeneralSettings
  path: Any  # the dataset's folder
  counts: dict[str, int]  # examples per split (splits without examples left out)


def ensure_built(entry: general_jsonl.Entry, data_cfg: Mapping[str, Any], check=None) -> Built:
  """Reads and checks `entry`'s file, then builds its dataset unless this content was built (file-locked).
  `check(records)`, if given, runs before anything is written (general_task: every line through the codec)."""
  turns = general_jsonl.check_turns(data_cfg.get("extra_turns", "all"))
  records, digest = general_jsonl.read_records(entry.path, turns)  # every line checked before anything is written
  if check is not None:
    check(records)
  fraction = validation_fraction(data_cfg)
  settings = GeneralSettings(entry, digest, fraction, int(data_cfg["build"]["seed"]), turns)
  splits = split_of(records, fraction, settings.seed)
  data_dir = tfds_build.resolve_data_dir(str(data_cfg["data_dir"]))
  path = tfds_build.dataset_dir(data_dir, DATASET_NAME, settings.name, VERSION)
  tfds_build.ensure_built(path, data_dir, lambda: MetaRfftGeneralTfds(config=GeneralConfig(settings, splits),
                                                                       data_dir=str(data_dir)),
                          f"{entry.path} ({entry.name})")
  counts = {s: len(r) for s, r in splits.items() if r}
  return Built(settings, path, counts)


def read_split(path: str, split: str, shuffle_files: bool = False, seed: int | None = None) -> tf.data.Dataset:
  return tfds_build.read_split(path, split, f"the general data in {path} has no {split!r} split", shuffle_files,
                               seed)
