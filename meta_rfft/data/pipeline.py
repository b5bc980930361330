"""The batch iterator the trainer consumes, and the example iterator evaluation consumes.

`make_batch_iterator(data_cfg, vocab, *, seq_len, host_batch_size, process_index, process_count, seed)`
returns a `BatchIterator`: `next(it)` gives a dict of numpy arrays [host_batch_size, seq_len] with the
contract's keys (input_tokens, target_tokens, loss_weights, segment_ids, positions). The stream is the seqio
mixture named by `data.mixture`/`data.format` (split `data.split`), sharded over processes with
`seqio.ShardInfo(process_index, process_count)` (each process reads a disjoint part of every task), shuffled
with `seed`, converted and packed (packing.py). With `num_epochs=None` it never ends; with a finite number
of epochs (validation) the tasks are read one after the other, each to its end, the last batch is filled
with empty rows (segment_ids 0, loss_weights 0) and iteration stops.

`it.save(directory)` / `it.restore(directory)` write and read this process's state under
`directory/process_<index>/`: the tf.data iterator (tf.train.Checkpoint) plus the packer's open rows and the
rows waiting for the next batch. A restored iterator continues exactly as the uninterrupted one. The
trainer stores the directory inside its own checkpoint step directory. Restore into an iterator built with
the same data settings, seq_len, batch size and process layout.

`iterate_examples(data_cfg, vocab, *, task_id, fmt, split, process_index, process_count)` yields, finite and
unshuffled, one dict per example: prompt_tokens (what generation starts from: [BOS] + inputs, or the chat
template's prompt, meta_rfft/data/example_codec.py), target_tokens (the targets' ids: no EOS in plain prompts,
through the end-of-turn token with a chat template), inputs and targets (text), answer, task, length, seed.
"""
from __future__ import annotations

import json
import logging
import os
import pathlib
import shutil
import tempfile
from typing import Any, Iterator, Mapping

import numpy as np
import seqio
import tensorflow as tf

from meta_rfft import io_paths
from meta_rfft.data import general_task, packing, seqio_tasks, tfds_data, snippet_task
from meta_rfft.data.indexed_stream import StreamMismatch


def _options() -> tf.data.Options:
  options = tf.data.Options()
  options.deterministic = True  # exact resumption needs a deterministic element order
  options.experimental_external_state_policy = tf.data.experimental.ExternalStatePolicy.FAIL
  return options


# Examples dropped as too long, none kept, before a stream counts as one whose examples never fit: it would
# otherwise be read forever (a repeated stream) without producing a row.
NONE_FIT_AFTER = 1000


class BatchIterator:
  """Packed training batches; `save`/`restore` make the stream resumable at any step."""

  def __init__(self, dataset: tf.data.Dataset, packer: packing.Packer, batch_size: int, process_index: int,
               finite: bool, name: str = "the data", identity: dict | None = None):
    self._dataset = dataset
    self._it = iter(dataset)
    self._packer = packer
    self._batch_size = batch_size
    self._process_index = process_index
    self._finite = finite
    self._rows: list[dict[str, np.ndarray]] = []
    self._exhausted = False
    self.batches_served = 0
    self._name = name
    # What the stream is (its seqio name, how examples become tokens): a saved state restores only into the same.
    self._identity = json.loads(json.dumps(identity or {}))
    # Since this iterator was made or restored: examples kept, the shortest dropped, the packer's drops before.
    self._kept, self._shortest_dropped, self._dropped_before = 0, None, packer.dropped

  @property
  def dropped_examples(self) -> int:
    return self._packer.dropped

  def __iter__(self) -> "BatchIterator":
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    while len(self._rows) < self._batch_size and not self._exhausted:
      try:
        ex = next(self._it)
      except StopIteration:
        self._exhausted = True
        self._rows.extend(self._packer.flush())
        break
      dropped = self._packer.dropped
      self._rows.extend(self._packer.add({k: v.numpy() for k, v in ex.items()}))
      if self._packer.dropped == dropped:
        self._kept += 1
      elif not self._kept:
        self._check_some_fit(len(ex["input_tokens"]))
    if not self._rows:
      raise StopIteration
    rows, self._rows = self._rows[:self._batch_size], self._rows[self._batch_size:]
    rows += [self._packer.empty_row() for _ in range(self._batch_size - len(rows))]
    self.batches_served += 1
    return {k: np.stack([r[k] for r in rows]) for k in packing.KEYS}

  def _check_some_fit(self, dropped_length: int) -> None:
    self._shortest_dropped = min(dropped_length, self._shortest_dropped or dropped_length)
    if self._packer.dropped - self._dropped_before >= NONE_FIT_AFTER:
      raise ValueError(f"{self._name}: none of its first {NONE_FIT_AFTER} examples fits data.seq_len="
                       f"{self._packer.seq_len} (the shortest has {self._shortest_dropped} tokens); raise "
                       f"data.seq_len, or use shorter lengths or a vocabulary with fewer tokens per example")

  def _dir(self, directory: str | os.PathLike) -> pathlib.Path:
    return pathlib.Path(directory) / f"process_{self._process_index}"

  def save(self, directory: str | os.PathLike) -> None:
    """Writes this process's iterator state to `directory/process_<i>/` (atomically: temp dir, rename).

    `directory` may be an object-store URL (gs://...): TF's iterator checkpoint and numpy write local files,
    so the state is written to a local temporary folder and uploaded file by file. An object store has no
    atomic folder rename, and needs none here: the trainer calls this inside an Orbax checkpoint step, which
    Orbax marks complete only after every item is written."""
    if io_paths.is_url(directory):
      tmp = pathlib.Path(tempfile.mkdtemp(prefix="meta_rfft_iterator_"))
      try:
        self._write_state(tmp)
        io_paths.upload_tree(tmp, io_paths.resolve(directory) / f"process_{self._process_index}")
      finally:
        shutil.rmtree(tmp, ignore_errors=True)
      return
    final = self._dir(directory)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.tmp"))
    try:
      self._write_state(tmp)
      if final.exists():
        shutil.rmtree(final)
      os.replace(tmp, final)
    except BaseException:
      shutil.rmtree(tmp, ignore_errors=True)
      raise

  def _write_state(self, folder: pathlib.Path) -> None:
    tf.train.Checkpoint(iterator=self._it).write(str(folder / "tf_iterator"))
    meta, arrays = self._packer.state()
    for r, row in enumerate(self._rows):
      for k, v in row.items():
        arrays[f"row_{r}_{k}"] = v
    meta.update({"identity": self._identity, "rows": len(self._rows), "exhausted": self._exhausted,
                 "batches_served": self.batches_served, "batch_size": self._batch_size,
                 "seq_len": self._packer.seq_len})
    np.savez(folder / "packer.npz", **arrays)
    (folder / "state.json").write_text(json.dumps(meta))

  def restore(self, directory: str | os.PathLike) -> None:
    """Loads the state `save` wrote; the next batch is the one the saved iterator would have given."""
    if io_paths.is_url(directory):
      remote = io_paths.resolve(directory) / f"process_{self._process_index}"
      if not (remote / "state.json").exists():
        raise FileNotFoundError(f"no data iterator state for process {self._process_index} in {directory} "
                                f"(expected {remote}/state.json)")
      tmp = tempfile.mkdtemp(prefix="meta_rfft_iterator_")
      try:
        io_paths.download_tree(remote, tmp)
        self._read_state(pathlib.Path(tmp), shown=remote)
      finally:
        shutil.rmtree(tmp, ignore_errors=True)
      return
    path = self._dir(directory)
    if not (path / "state.json").is_file():
      raise FileNotFoundError(f"no data iterator state for process {self._process_index} in {directory} "
                              f"(expected {path}/state.json)")
    self._read_state(path, shown=path)

  def _read_state(self, path: pathlib.Path, shown) -> None:
    meta = json.loads((path / "state.json").read_text())
    if (meta["batch_size"], meta["seq_len"]) != (self._batch_size, self._packer.seq_len):
      raise StreamMismatch(f"{shown}: saved with batch size {meta['batch_size']} and seq_len {meta['seq_len']}, "
                           f"restoring into {self._batch_size} and {self._packer.seq_len}")
    if "identity" in meta and meta["identity"] != self._identity:  # states saved before identities: not checked
      raise StreamMismatch(
          f"{shown}: saved from the stream {meta['identity']}, restoring into {self._identity}; a run resumes with "
          "the data settings it was trained with (data.mixture, data.mixing_rates, data.mixing_cap, data.extra and "
          "the contents of its files, data.chat_template, data.system_prompt): set them back, or use another "
          "workdir")
    tf.train.Checkpoint(iterator=self._it).read(str(path / "tf_iterator")).assert_consumed()
    with np.load(path / "packer.npz") as data:
      arrays = dict(data)
    self._packer.load_state(meta, arrays)
    self._rows = [{k: arrays[f"row_{r}_{k}"] for k in packing.KEYS} for r in range(meta["rows"])]
    self._exhausted = meta["exhausted"]
    self.batches_served = meta["batches_served"]
    self._kept, self._shortest_dropped, self._dropped_before = 0, None, self._packer.dropped


_REQUIRED = ("mixture", "format", "split", "data_dir", "pack", "pack_bins", "shuffle_buffer", "mixing_rates",
             "build")


def _check_config(data_cfg: Mapping[str, Any]) -> None:
  missing = [k for k in _REQUIRED if k not in data_cfg]
  if missing:
    raise ValueError(f"config.data is missing {', '.join(missing)} (start from "
                     "meta_rfft.data.config.default_data_config())")


def _check(process_index: int, process_count: int, host_batch_size: int) -> None:
  if process_count < 1 or not 0 <= process_index < process_count:
    raise ValueError(f"process_index {process_index} is not in 0..{process_count - 1}")
  if host_batch_size < 1:
    raise ValueError(f"host_batch_size must be at least 1, got {host_batch_size}")


class _NoUncachedShuffleWarning(logging.Filter):
  """seqio warns, on every shuffled read of a FunctionDataSource, that a restarted run would see a differently
  shuffled stream. A BatchIterator's state is saved with each checkpoint and restored on resume, so a restart
  continues the same stream: that one message does not apply here and is dropped."""

  def filter(self, record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("Using an uncached FunctionDataset for training")


_NO_UNCACHED_SHUFFLE_WARNING = _NoUncachedShuffleWarning()


def make_batch_iterator(data_cfg: Mapping[str, Any], vocab: seqio.Vocabulary, *, seq_len: int,
                        host_batch_size: int, process_index: int = 0, process_count: int = 1, seed: int = 0,
                        num_epochs: int | None = None, shuffle: bool = True,
                        split: str | None = None) -> BatchIterator:
  """Packed batches of `data.mixture` for this process (see the module docstring)."""
  _check_config(data_cfg)
  _check(process_index, process_count, host_batch_size)
  reg = seqio_tasks.register(data_cfg, vocab)
  snippet_task.maybe_register(data_cfg, vocab, reg)  # meta_rfft.rf_pretrain_with_synthetic.*, on demand
  name = general_task.with_extra(data_cfg, vocab, reg, seqio_tasks.mixture_name(data_cfg, reg))
  provider = seqio.get_mixture_or_task(name)
  logging.getLogger("absl").addFilter(_NO_UNCACHED_SHUFFLE_WARNING)  # adding the same filter twice adds it once
  split = split or str(data_cfg["split"])
  shard = seqio.ShardInfo(index=process_index, num_shards=process_count)
  kwargs = dict(sequence_length=None, split=split, shuffle=shuffle, seed=seed, shard_info=shard,
                num_epochs=num_epochs, trim_output_features=False, try_in_mem_cache=False)
  tasks = provider.tasks if isinstance(provider, seqio.Mixture) else [provider]
  if num_epochs is not None or len(tasks) == 1:
    # Finite streams (validation) read every task to the end, one after the other: seqio's mixture
    # sampling stops at the first exhausted task.
    keep = ("inputs", "targets", "task")
    parts = [t.get_dataset(**kwargs).map(lambda ex: {k: ex[k] for k in keep})
             for t in tasks if split in t.splits]
    if not parts:
      raise ValueError(f"{name}: no task has a {split!r} split")
    ds = parts[0]
    for part in parts[1:]:
      ds = ds.concatenate(part)
  else:
    ds = provider.get_dataset(passthrough_features=["task"], **kwargs)
  ds = ds.map(packing.lm_example_fn(reg.codec), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  ds = ds.prefetch(tf.data.AUTOTUNE).with_options(_options())
  packer = packing.Packer(seq_len, vocab.pad_id, pack=bool(data_cfg["pack"]), bins=int(data_cfg["pack_bins"]),
                          positions=str(data_cfg.get("positions", "contiguous")),
                          position_range=int(data_cfg.get("position_range", 0)), seed=seed, stream=process_index)
  return BatchIterator(ds, packer, host_batch_size, process_index, finite=num_epochs is not None,
                       name=f"mixture {name} ({split} split)",
                       identity={"stream": name, "codec": reg.codec.describe() or "none"})


def iterate_examples(data_cfg: Mapping[str, Any], vocab: seqio.Vocabulary, *, task_id: str, fmt: str,
                     split: str = "test", process_index: int = 0,
                     process_count: int = 1) -> Iterator[dict[str, Any]]:
  """Finite, unshuffled examples of one task and format for evaluation (see the module docstring)."""
  _check_config(data_cfg)
  _check(process_index, process_count, 1)
  reg = seqio_tasks.register(data_cfg, vocab)
  if seqio_tasks.task_name(task_id, fmt) not in reg.tasks:
    raise ValueError(f"no built data for task {task_id!r} in format {fmt!r} (data.build.tasks/formats)")
  if split not in reg.settings.parts_of(task_id):
    raise ValueError(f"task {task_id!r} has no {split!r} split built "
                     f"(splits: {sorted(reg.settings.parts_of(task_id))})")
  # Read the stored texts directly (the seqio Task keeps token ids only), in stored order, this shard.
  ds = tfds_data.read_split(reg.path, task_id, split).shard(process_count, process_index)
  codec = reg.codec

  def encode(ex):
    inputs, targets = codec.encode_tf(ex[f"{fmt}_inputs"], ex[f"{fmt}_targets"])
    return dict(ex, inputs_ids=inputs, target_ids=targets)
  ds = ds.map(encode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  for ex in ds.as_numpy_iterator():
    yield {"prompt_tokens": np.asarray(codec.frame_bos + list(ex["inputs_ids"]), np.int32),
           "target_tokens": np.asarray(ex["target_ids"], np.int32),
           "inputs": ex[f"{fmt}_inputs"].decode(), "targets": ex[f"{fmt}_targets"].decode(),
           "answer": ex["answer"].decode(), "task": ex["task"].decode(), "length": int(ex["length"]),
           "seed": int(ex["seed"])}
