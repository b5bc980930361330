"""How every TFDS dataset of the project is built, read and tokenised: the rule tasks' (tfds_data.py), the one-shot
snippet set's (snippet_tfds.py) and each general data file's (general_tfds.py).

- The data folder: `data.data_dir`, else $META_RFFT_DATA_DIR, else ~/.cache/meta_rfft/tfds; a URL (gs://...) is
  kept as given.
- A dataset lives in `<data_dir>/<dataset>/<name>/<version>/` (TFDS's own layout), `name` a digest of what it
  holds, so a changed setting builds a new dataset beside the old one.
- The lock rule, one for all: on local disk, builders on one machine take one file lock in the data folder and
  build once; an object store has no file lock, so there a dataset is built ahead from one host
  (`python -m meta_rfft.data`), and every host then finds it built.
- A build that fails leaves no empty dataset folders behind.
"""
from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import pathlib
import time
from typing import Any, Callable, Mapping, Sequence

import tensorflow as tf
import tensorflow_datasets as tfds
from etils import epath

from meta_rfft import io_paths

LOCK_FILE = ".meta_rfft_build.lock"
log = logging.getLogger(__name__)


def resolve_data_dir(data_dir: str):
  """`data.data_dir`, or $META_RFFT_DATA_DIR, or ~/.cache/meta_rfft/tfds. A URL (gs://...) is kept as is."""
  chosen = data_dir or os.environ.get("META_RFFT_DATA_DIR") or "~/.cache/meta_rfft/tfds"
  if io_paths.is_url(chosen):
    return epath.Path(chosen)
  return pathlib.Path(chosen).expanduser().resolve()


def dataset_dir(data_dir, dataset: str, name: str, version: str):
  return data_dir / dataset / name / version


def is_built(path) -> bool:
  return (path / "dataset_info.json").exists()


def ensure_built(path, data_dir, make_builder: Callable[[], tfds.core.DatasetBuilder], what: str) -> None:
  """Builds the dataset at `path` (under `data_dir`) with `make_builder()` unless it is there, by the lock rule."""
  if is_built(path):
    return
  data_dir.mkdir(parents=True, exist_ok=True)
  remote = io_paths.is_url(str(data_dir))
  with contextlib.nullcontext() if remote else open(data_dir / LOCK_FILE, "w") as lock:
    if lock is not None:
      fcntl.flock(lock, fcntl.LOCK_EX)
    if is_built(path):  # another process built it while this one waited
      return
    start = time.time()
    try:
      make_builder().download_and_prepare(download_config=tfds.download.DownloadConfig(
          compute_stats=tfds.download.ComputeStatsMode.SKIP))
    except BaseException:
      if not remote:
        _remove_empty_parents(path, stop=data_dir)
      raise
    log.info("built %s into %s in %.1fs", what, path, time.time() - start)


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


@functools.lru_cache(maxsize=16)
def reader(path: str) -> tfds.core.DatasetBuilder:
  return tfds.builder_from_directory(path)


def read_split(path, split: str, missing: str, shuffle_files: bool = False, seed: int | None = None) -> tf.data.Dataset:
  """The stored examples of TFDS split `split` at `path`; `missing` is the error when the dataset lacks it."""
  r = reader(str(path))  # a str: pathlib would mangle gs://
  if split not in r.info.splits:
    raise ValueError(missing)
  return r.as_dataset(split=split, shuffle_files=shuffle_files,
                      read_config=tfds.ReadConfig(shuffle_seed=seed, try_autocache=False))


def select_and_tokenize(dataset: tf.data.Dataset, encode: Callable[[Mapping[str, tf.Tensor]], tuple[Any, Any]],
                        passthrough: Sequence[str]) -> tf.data.Dataset:
  """`inputs` and `targets` token ids from each stored example by `encode` (the run's codec on the fields the
  dataset holds), and the `passthrough` fields unchanged: one map (one traced function) per task."""
  def fn(ex):
    inputs, targets = encode(ex)
    return {"inputs": inputs, "targets": targets, **{k: ex[k] for k in passthrough}}
  return dataset.map(fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
