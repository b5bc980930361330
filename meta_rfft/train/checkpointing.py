"""Trainer checkpoints: the writer and reader of WORKDIR/checkpoints/<step>/ (laid out in meta_rfft/layouts.py).

Items: `params` (pure dict of the model's base params; with PiSSA the frozen residuals), `adapters` (LoRA/PiSSA
only), `opt_state` (the optimizer state's leaves, keyed by their flat index: independent of optax's NamedTuple
classes), `data` (the data iterator's own save/restore, one folder per process), `meta` (JSON: step, adapter
settings, early-stopping state).

Saves are asynchronous (arrays are copied off the device before `save` returns, so the next step may donate
them); the data item is written synchronously at save time because the iterator moves on right after. Orbax
writes into a temporary folder and renames it when every item is complete, so a run killed mid-save leaves no
half checkpoint that looks finished. A finished checkpoint that fails to restore (a file truncated or deleted
later) is reported, moved to WORKDIR/checkpoints_unreadable/<step>-<time> (kept for inspection, out of the
manager's way: the resumed run saves that step again) and the previous one is used.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from typing import Any, Callable

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath
from jax.experimental import multihost_utils

from meta_rfft import io_paths, layouts
from meta_rfft.convert.checkpoint import item_metadata
from meta_rfft.data.indexed_stream import StreamMismatch

logger = logging.getLogger(__name__)

# Room a save needs beyond its arrays' bytes: Orbax's metadata files and the file system's partly used blocks.
_METADATA_SLACK = 1 << 20


class DataIteratorHandler(ocp.CheckpointHandler):
  """Saves/restores any iterator with `save(directory)` / `restore(directory)` (per process)."""

  def save(self, directory: epath.Path, args: "DataSave"):
    path = epath.Path(directory) / f"process_{jax.process_index()}"
    path.mkdir(parents=True, exist_ok=True)
    args.iterator.save(os.fspath(path))

  def restore(self, directory: epath.Path, args: "DataRestore"):
    path = epath.Path(directory) / f"process_{jax.process_index()}"
    if not path.exists():
      raise FileNotFoundError(f"checkpoint data item has no state for process {jax.process_index()} at {path}")
    args.iterator.restore(os.fspath(path))
    return args.iterator


@ocp.args.register_with_handler(DataIteratorHandler, for_save=True)
@dataclasses.dataclass
class DataSave(ocp.args.CheckpointArgs):
  iterator: Any


@ocp.args.register_with_handler(DataIteratorHandler, for_restore=True)
@dataclasses.dataclass
class DataRestore(ocp.args.CheckpointArgs):
  iterator: Any


def flatten_opt_state(opt_state) -> dict:
  return {str(i): leaf for i, leaf in enumerate(jax.tree.leaves(opt_state))}


def unflatten_opt_state(flat: dict, like) -> Any:
  leaves, treedef = jax.tree.flatten(like)
  if len(flat) != len(leaves):
    raise ValueError(f"checkpoint opt_state has {len(flat)} leaves, the optimizer expects {len(leaves)}: "
                     f"was it written with another config.optim or config.adapter?")
  return jax.tree.unflatten(treedef, [flat[str(i)] for i in range(len(leaves))])


@dataclasses.dataclass
class Restored:
  step: int
  params: Any
  adapters: Any
  opt_state: Any
  meta: dict


class DamagedCheckpoint(Exception):
  """A step folder that cannot be a finished save: restore_latest sets it aside and tries the one before."""


class CheckpointMismatch(ValueError):
  """The checkpoints hold a model of other shapes than the config builds: a config error, not a corrupt file."""

  def __init__(self, step_dir: str, differences: list[str]):
    self.step_dir, self.differences = step_dir, differences
    shown = "; ".join(differences[:6]) + (f"; and {len(differences) - 6} more" if len(differences) > 6 else "")
    super().__init__(f"{step_dir} holds tensors of other shapes than this config builds ({shown})")


def _shapes(tree) -> dict[str, tuple]:
  return {jax.tree_util.keystr(p): tuple(leaf.shape)
          for p, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


class Checkpoints:
  """The run's CheckpointManager plus fallback on unreadable checkpoints."""

  def __init__(self, workdir: str, *, keep: int, async_save: bool = True,
               warn: Callable[[str], None] = logger.warning):
    # A URL (gs://...) stays one: Orbax and TensorStore write to object stores natively.
    self.layout = layout = layouts.Workdir.at(workdir)
    self.directory = os.fspath(layout.checkpoints)
    self.aside_directory = os.fspath(layout.checkpoints_unreadable)
    self.warn = warn
    options = ocp.CheckpointManagerOptions(max_to_keep=int(keep) if keep else None, create=True,
                                           enable_async_checkpointing=bool(async_save),
                                           cleanup_tmp_directories=True)
    self.manager = ocp.CheckpointManager(self.directory, options=options)

  def all_steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def save(self, step: int, *, params, adapters, opt_state, iterator, meta: dict) -> None:
    items = dict(params=ocp.args.StandardSave(params), opt_state=ocp.args.StandardSave(flatten_opt_state(opt_state)),
                 data=DataSave(iterator), meta=ocp.args.JsonSave(dict(meta, step=int(step))))
    if adapters:
      items["adapters"] = ocp.args.StandardSave(adapters)
    self._check_room(step, (params, adapters, opt_state))
    self.manager.save(int(step), args=ocp.args.Composite(**items), force=True)

  def _check_room(self, step: int, trees) -> None:
    """Refuses a save the disk cannot hold before writing any of it: Orbax would otherwise fail in its background
    threads, leave a partial step folder, and bury the cause under their tracebacks. The previous save is
    finished first (Orbax would wait for it anyway), so the free space it took is counted. Process 0 measures and
    every process gets its figure, so that all of them refuse together or none does."""
    if io_paths.is_url(self.directory):
      return
    self.manager.wait_until_finished()
    need = sum(int(x.size) * x.dtype.itemsize for x in jax.tree.leaves(trees))
    need += need // 100 + _METADATA_SLACK
    free = io_paths.free_bytes(self.directory) if jax.process_index() == 0 else 0
    if jax.process_count() > 1:
      # In KiB as a float32: without jax_enable_x64 an int64 would arrive as a wrapped int32.
      free = int(multihost_utils.broadcast_one_to_all(np.float32(free / 1024))) * 1024
    io_paths.check_room(self.directory, need, f"checkpoint {step}", free=free)

  def restore_latest(self, *, params, adapters, opt_state, iterator) -> Restored | None:
    """Restores the newest readable checkpoint onto the abstract targets (ShapeDtypeStructs with shardings).

    Returns None when there is none. A damaged checkpoint (unreadable, or missing an item it was saved with) is
    moved aside with a warning naming it, and the one before it is tried. A checkpoint this config cannot use
    (other shapes, adapters or data stream) is refused with CheckpointMismatch or StreamMismatch, and nothing is
    moved: the config, not the checkpoint, is at fault.
    """
    steps = self.all_steps()
    for i, step in enumerate(reversed(steps)):
      try:
        self._check_shapes(step, params=params, adapters=adapters)
        return self._restore(step, params=params, adapters=adapters, opt_state=opt_state, iterator=iterator)
      except (CheckpointMismatch, StreamMismatch):
        raise
      except Exception as e:  # any other failure to read is a damaged checkpoint for our purposes
        older = steps[-i - 2] if i + 1 < len(steps) else None
        aside = self._set_aside(step)
        self.warn(f"WARNING: checkpoint {self.directory}/{step} is unreadable ({type(e).__name__}: "
                  f"{str(e).splitlines()[0][:300] if str(e) else ''}); moved to {aside}; "
                  + (f"falling back to step {older}" if older is not None else "no older checkpoint left"))
    if steps:
      raise RuntimeError(f"none of the checkpoints {steps} in {self.directory} could be restored (each is now in "
                         f"{self.aside_directory}); rerun to start afresh")
    return None

  def _saved_items(self, step: int) -> set[str]:
    """The items Orbax recorded for a finished step; a step folder without that record is damaged (a save that
    never finished, or a folder made by hand)."""
    record = self.layout.step(step).orbax_metadata
    try:
      return set(json.loads(record.read_text())["item_handlers"])
    except Exception as e:  # pylint: disable=broad-except
      raise DamagedCheckpoint(f"its {record.name} is missing or unreadable ({type(e).__name__})") from None

  def _check_shapes(self, step: int, *, params, adapters) -> None:
    """Raises CheckpointMismatch when the step's stored shapes, or its adapters, differ from the targets', and
    DamagedCheckpoint when an item it was saved with is missing; run before its restore, so that a config error
    never sets good checkpoints aside. Unreadable tensor metadata is left to the restore."""
    saved = self._saved_items(step)
    missing = [n for n in sorted(saved) if not self.layout.step(step).item(n).exists()]
    if missing or "params" not in saved:
      raise DamagedCheckpoint(f"item(s) {missing or ['params']} missing")
    differences = []
    for name, target in (("params", params), ("adapters", adapters)):
      folder = self.layout.step(step).item(name)
      if name in saved:
        try:
          stored = _shapes(item_metadata(folder))
        except Exception:  # pylint: disable=broad-except  (a damaged step: the restore reports and skips it)
          return
        if not stored:  # metadata that lists no tensor: damaged, not another model
          return
      elif target:
        stored = {}  # saved without adapters, restored into a config that has them
      else:
        continue
      wanted = _shapes(target or {})
      differences += [f"{name}{k}: {stored.get(k, 'absent')} there, {wanted.get(k, 'absent')} now"
                      for k in sorted(set(stored) | set(wanted)) if stored.get(k) != wanted.get(k)]
    if differences:
      raise CheckpointMismatch(f"{self.directory}/{step}", differences)

  def _set_aside(self, step: int) -> str:
    """Moves an unreadable step folder out of checkpoints/: left there, the run would reach that step again and
    Orbax would refuse to save over it, on every rerun."""
    dest = epath.Path(self.aside_directory) / f"{step}-{time.strftime('%Y%m%d-%H%M%S')}"
    if jax.process_index() == 0:  # one process moves it; the others wait for it below
      dest.parent.mkdir(parents=True, exist_ok=True)
      self.layout.step(step).root.rename(dest)
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices(f"meta_rfft checkpoint {step} set aside")
    self.manager.reload()
    return os.fspath(dest)

  def _restore(self, step: int, *, params, adapters, opt_state, iterator) -> Restored:
    items = dict(params=ocp.args.StandardRestore(params),
                 opt_state=ocp.args.StandardRestore(flatten_opt_state(opt_state)),
                 data=DataRestore(iterator), meta=ocp.args.JsonRestore())
    if adapters:
      items["adapters"] = ocp.args.StandardRestore(adapters)
    out = self.manager.restore(step, args=ocp.args.Composite(**items))
    meta = dict(out["meta"])
    if int(meta.get("step", -1)) != step:
      raise ValueError(f"meta.step={meta.get('step')} does not match the checkpoint folder's step {step}")
    return Restored(step=step, params=out["params"], adapters=out["adapters"] if adapters else {},
                    opt_state=unflatten_opt_state(out["opt_state"], opt_state), meta=meta)

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
