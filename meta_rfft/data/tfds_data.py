"""Builds the TFDS data once per build setting and reads its splits back.

Layout: `<data_dir>/meta_rfft_tfds/<settings.name>/1.0.0/` (TFDS's own). `ensure_built` takes a file lock
so that concurrent processes on one machine build once; on several hosts with a shared data_dir (a shared
file system, or gs://), build ahead with `python -m meta_rfft.data` (the hosts then find it built).
"""
from __future__ import annotations

import contextlib
import fcntl
import functools
import importlib.util
import logging
import os
import pathlib
import sys
import time
from typing import Any, Mapping

import tensorflow as tf
import tensorflow_datasets as tfds
from etils import epath

from meta_rfft import shipped
from meta_rfft.data import materialize
from meta_rfft.tasks.user_tasks import load_user_tasks

BUILDER_FILE = shipped.TFDS_BUILDER_FILE
DATASET_NAME = "meta_rfft_tfds"
VERSION = "1.0.0"
log = logging.getLogger(__name__)


def resolve_data_dir(data_dir: str):
  """`data.data_dir`, or $META_RFFT_DATA_DIR, or ~/.cache/meta_rfft/tfds. A URL (gs://...) is kept as is."""
  chosen = data_dir or os.environ.get("META_RFFT_DATA_DIR") or "~/.cache/meta_rfft/tfds"
  if "://" in chosen:
    return epath.Path(chosen)
  return pathlib.Path(chosen).expanduser().resolve()


def _builder_module():
  name = "meta_rfft_tfds_builder"  # one component: TFDS then finds the code path from the file itself
  if name not in sys.modules:  # TFDS registers the builder class by name: define it once per process
    spec = importlib.util.spec_from_file_location(name, BUILDER_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
  return sys.modules[name]


def builder_dir(data_dir, settings: materialize.BuildSettings):
  return data_dir / DATASET_NAME / settings.name / VERSION


def ensure_built(data_cfg: Mapping[str, Any]) -> tuple[materialize.BuildSettings, Any]:
  """Resolves `data_cfg.build`, builds the TFDS data if this setting was never built, returns its dir.

  The dir is a pathlib.Path, or an etils epath.Path for a URL data_dir. `data_cfg.user_tasks` are loaded first
  (every data path, seqio_tasks.register and `python -m meta_rfft.data` included, comes through here).
  """
  load_user_tasks(data_cfg.get("user_tasks") or "")
  settings = materialize.resolve(data_cfg["build"])
  data_dir = resolve_data_dir(str(data_cfg["data_dir"]))
  path = builder_dir(data_dir, settings)
  if (path / "dataset_info.json").exists():
    return settings, path
  data_dir.mkdir(parents=True, exist_ok=True)
  # A file lock serialises builders on one machine; object stores (gs://) have none: build there ahead of
  # time from one host (`python -m meta_rfft.data`).
  remote = isinstance(data_dir, epath.Path) and "://" in str(data_dir)
  with contextlib.nullcontext() if remote else open(data_dir / ".meta_rfft_build.lock", "w") as lock:
    if lock is not None:
      fcntl.flock(lock, fcntl.LOCK_EX)
    if not (path / "dataset_info.json").exists():
      n = sum(p.num_examples for p in settings.parts)
      log.info("building %d examples (%d task splits) into %s", n, len(settings.parts), path)
      start = time.time()
      module = _builder_module()
      pool = materialize.worker_pool(int(data_cfg["build"].get("num_workers", 0)))
      try:
        builder = module.MetaRfftTfds(config=module.MetaRfftConfig(settings, pool), data_dir=str(data_dir))
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
            compute_stats=tfds.download.ComputeStatsMode.SKIP))
      except BaseException:
        _remove_empty_parents(path, stop=data_dir)  # a failed build leaves no empty dataset folders behind
        raise
      finally:
        if pool is not None:
          pool.close()
          pool.join()
      log.info("built %s in %.1fs", path, time.time() - start)
  return settings, path


def _remove_empty_parents(path, stop) -> None:
  """Removes `path` and each parent up to (not including) `stop` while it is an empty folder."""
  path, stop = pathlib.Path(str(path)), pathlib.Path(str(stop))
  while path != stop and stop in path.parents:
    if path.exists():
      try:
        path.rmdir()
      except OSError:
        return
    path = path.parent


@functools.lru_cache(maxsize=8)
def _reader(path: str) -> tfds.core.DatasetBuilder:
  return tfds.builder_from_directory(path)


def read_split(path: str | os.PathLike, task_id: str, split: str, shuffle_files: bool = False,
               seed: int | None = None) -> tf.data.Dataset:
  """The stored examples of (task, split) as a tf.data.Dataset of string/int features."""
  reader = _reader(str(path))
  name = materialize.tfds_split_name(task_id, split)
  if name not in reader.info.splits:
    raise ValueError(f"task {task_id!r} has no {split!r} split in {path} (built with per_length 0, or the "
                     "task was not in data.build.tasks)")
  config = tfds.ReadConfig(shuffle_seed=seed, try_autocache=False)
  return reader.as_dataset(split=name, shuffle_files=shuffle_files, read_config=config)


_INT_FIELDS = {"length": tf.int32, "seed": tf.int64}


def read_fields(path: str | os.PathLike, task_id: str, split: str, fields: tuple[str, ...]) -> tf.data.Dataset:
  """Like read_split (same examples, same order) but parsing only `fields`, straight from the files.

  Building a pipeline over many tasks is dominated by tracing each split's decoding function; TFDS's
  decodes every stored feature, this one only what a format needs.
  """
  reader = _reader(str(path))
  name = materialize.tfds_split_name(task_id, split)
  if name not in reader.info.splits:
    raise ValueError(f"task {task_id!r} has no {split!r} split in {path} (built with per_length 0, or the "
                     "task was not in data.build.tasks)")
  files = [str(f) for f in reader.info.splits[name].filepaths]
  spec = {k: tf.io.FixedLenFeature([], tf.int64 if k in _INT_FIELDS else tf.string) for k in fields}

  def parse(record):
    ex = tf.io.parse_single_example(record, spec)
    return {k: tf.cast(v, _INT_FIELDS[k]) if k in _INT_FIELDS else v for k, v in ex.items()}
  return tf.data.TFRecordDataset(files).map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def num_examples(path: str | os.PathLike, task_id: str, split: str) -> int:
  splits = _reader(str(path)).info.splits
  name = materialize.tfds_split_name(task_id, split)
  return splits[name].num_examples if name in splits else 0
