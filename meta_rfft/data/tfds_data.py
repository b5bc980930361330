"""The rule tasks' TFDS data: built once per build setting (data/meta_rfft_tfds/'s builder, materialize.py's
examples) into `<data_dir>/meta_rfft_tfds/<settings.name>/1.0.0/`, and its splits read back. Building, the lock
rule and reading are tfds_build.py's."""
from __future__ import annotations

import importlib.util
import logging
import os
import sys
from typing import Any, Mapping

import tensorflow as tf

from meta_rfft import shipped
from meta_rfft.data import materialize, tfds_build
from meta_rfft.tasks.user_tasks import load_user_tasks

BUILDER_FILE = shipped.TFDS_BUILDER_FILE
DATASET_NAME = "meta_rfft_tfds"
VERSION = "1.0.0"
log = logging.getLogger(__name__)


def _builder_module():
  name = "meta_rfft_tfds_builder"  # one component: TFDS then finds the code path from the file itself
  if name not in sys.modules:  # TFDS registers the builder class by name: define it once per process
    spec = importlib.util.spec_from_file_location(name, BUILDER_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
  return sys.modules[name]


def builder_dir(data_dir, settings: materialize.BuildSettings):
  return tfds_build.dataset_dir(data_dir, DATASET_NAME, settings.name, VERSION)


def ensure_built(data_cfg: Mapping[str, Any]) -> tuple[materialize.BuildSettings, Any]:
  """Resolves `data_cfg.build`, builds the TFDS data if this setting was never built (tfds_build's lock rule),
  returns its dir (a pathlib.Path, or an etils epath.Path for a URL data_dir). `data_cfg.user_tasks` are loaded
  first (every data path, seqio_tasks.register and `python -m meta_rfft.data` included, comes through here)."""
  load_user_tasks(data_cfg.get("user_tasks") or "")
  settings = materialize.resolve(data_cfg["build"])
  data_dir = tfds_build.resolve_data_dir(str(data_cfg["data_dir"]))
  path = builder_dir(data_dir, settings)
  if tfds_build.is_built(path):
    return settings, path
  pool = materialize.worker_pool(int(data_cfg["build"].get("num_workers", 0)))
  module = _builder_module()
  n = sum(p.num_examples for p in settings.parts)
  try:
    tfds_build.ensure_built(path, data_dir, lambda: module.MetaRfftTfds(
        config=module.MetaRfftConfig(settings, pool), data_dir=str(data_dir)),
        f"{n} examples of {len(settings.parts)} task splits")
  finally:
    if pool is not None:
      pool.close()
      pool.join()
  return settings, path


def read_split(path: str | os.PathLike, task_id: str, split: str, shuffle_files: bool = False,
               seed: int | None = None) -> tf.data.Dataset:
  """The stored examples of (task, split) as a tf.data.Dataset of string/int features."""
  return tfds_build.read_split(path, materialize.tfds_split_name(task_id, split), _missing(path, task_id, split),
                               shuffle_files, seed)


def _missing(path, task_id: str, split: str) -> str:
  return (f"task {task_id!r} has no {split!r} split in {path} (built with per_length 0, or the task was not in "
          "data.build.tasks)")


_INT_FIELDS = {"length": tf.int32, "seed": tf.int64}


def read_fields(path: str | os.PathLike, task_id: str, split: str, fields: tuple[str, ...]) -> tf.data.Dataset:
  """Like read_split (same examples, same order) but parsing only `fields`, straight from the files.

  Building a pipeline over many tasks is dominated by tracing each split's decoding function; TFDS's
  decodes every stored feature, this one only what a format needs.
  """
  reader = tfds_build.reader(str(path))
  name = materialize.tfds_split_name(task_id, split)
  if name not in reader.info.splits:
    raise ValueError(_missing(path, task_id, split))
  files = [str(f) for f in reader.info.splits[name].filepaths]
  spec = {k: tf.io.FixedLenFeature([], tf.int64 if k in _INT_FIELDS else tf.string) for k in fields}

  def parse(record):
    ex = tf.io.parse_single_example(record, spec)
    return {k: tf.cast(v, _INT_FIELDS[k]) if k in _INT_FIELDS else v for k, v in ex.items()}
  return tf.data.TFRecordDataset(files).map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def num_examples(path: str | os.PathLike, task_id: str, split: str) -> int:
  splits = tfds_build.reader(str(path)).info.splits
  name = materialize.tfds_split_name(task_id, split)
  return splits[name].num_examples if name in splits else 0
