"""Orbax checkpoints of the model's params: streamed saving, sharded loading, block-wise reads.

Saving streams: each leaf of the tree handed to Orbax is a `LazyArray` (shape, dtype and a generator of
pieces). A TypeHandler registered for that type writes the leaves one after another, and each leaf piece by
piece (one layer of a stacked param, a block of vocabulary rows), every piece being one zarr chunk of the
array. The host holds one piece at a time, while Orbax still writes one ordinary PyTree checkpoint (its
metadata says `np.ndarray`), so any Orbax restore reads it, sharded or not.

Reading (restore, metadata, single params, blocks) takes a local folder or an object-store URL (gs://...):
Orbax and TensorStore read both natively, and the small JSON files go through etils.epath (io_paths).
Saving (`save_streaming`, used by `hf_to_orbax`) writes to local disk only.
"""
from __future__ import annotations

import functools
import math
import os
from typing import Any, Callable, Iterator, Mapping

import jax
import numpy as np
import orbax.checkpoint as ocp
import tensorstore as ts
from flax import nnx
from orbax.checkpoint._src.serialization import ocdbt_utils
from orbax.checkpoint._src.serialization import tensorstore_utils as ts_utils
from orbax.checkpoint._src.serialization import type_handlers as ocp_type_handlers
from orbax.checkpoint._src.serialization import types as ocp_types

from meta_rfft import io_paths
from meta_rfft.convert.errors import ConversionError

Index = tuple[slice, ...]


class LazyArray:
  """A leaf to save, produced piece by piece only when Orbax writes it.

  `pieces()` yields (index, array) pairs covering the array once; each index selects a block of shape
  `piece_shape` (smaller at the array's far edges), which is also the stored chunk shape.
  """

  def __init__(self, shape, dtype, piece_shape, pieces: Callable[[], Iterator[tuple[Index, np.ndarray]]]):
    self.shape, self.dtype = tuple(shape), np.dtype(dtype)
    self.piece_shape, self.pieces = tuple(piece_shape), pieces

  @property
  def size(self) -> int:
    return math.prod(self.shape)

  @property
  def ndim(self) -> int:
    return len(self.shape)


class _StreamingNumpyHandler(ocp_type_handlers.NumpyHandler):
  """Writes LazyArrays one at a time, piece by piece (the stock handler writes whole arrays, all at once)."""

  def __init__(self):
    super().__init__(deepcopy_host_arrays=False)

  async def _background_serialize(self, values, infos, args=None):
    for value, info, arg in zip(values, infos, args):
      await info.await_path_creation()
      # As NumpyHandler does, except that the write shape (= zarr chunk) is one piece, not the whole array.
      spec = ts_utils.build_array_write_spec(
          info=info, arg=arg, global_shape=value.shape, local_shape=value.piece_shape, dtype=value.dtype,
          use_ocdbt=info.is_ocdbt_checkpoint,
          process_index=ocdbt_utils.get_process_index_for_subdir(use_ocdbt=info.is_ocdbt_checkpoint))
      store = await ts.open(ts.Spec(spec.json), create=True, open=True, context=info.ts_context)
      covered = 0
      for index, piece in value.pieces():
        if piece.dtype != value.dtype:
          raise AssertionError(f"{info.name}: piece of dtype {piece.dtype}, declared {value.dtype}")
        await store[index].write(piece)
        covered += piece.size
        del piece
      if covered != value.size:
        raise AssertionError(f"{info.name}: pieces covered {covered} of {value.size} values")


def save_streaming(path: str, tree: Mapping[str, Any]) -> None:
  """Writes a nested dict of LazyArrays as an Orbax PyTree checkpoint at `path` (which must not exist)."""
  # jax.Array registered too only because Orbax warns when a registry lacks it; no jax.Array is saved here.
  registry = ocp.type_handlers.create_type_handler_registry((LazyArray, _StreamingNumpyHandler()),
                                                            (jax.Array, ocp.type_handlers.ArrayHandler()))
  handler = ocp.PyTreeCheckpointHandler(type_handler_registry=registry)
  with ocp.Checkpointer(handler) as ckptr:
    ckptr.save(os.path.abspath(path), args=ocp.args.PyTreeSave(dict(tree)))


def _pure(target):
  return target.to_pure_dict() if isinstance(target, nnx.State) else target


def load_params(params_dir: str, target):
  """Restores the params checkpoint at `params_dir` directly onto the shardings (and dtypes) of `target`.

  `target`: the abstract state from meta_rfft.sharding.placement.abstract_with_shardings (an nnx.State of
  ShapeDtypeStructs with shardings) or a pure nested dict of them. Returns the same kind, with jax.Arrays.
  Each device reads only its own shards; dtypes are cast to the target's (e.g. bfloat16 file -> float32 run).
  """
  path = io_paths.resolve(params_dir)  # a local folder or a URL (gs://...): Orbax restores from both
  params_dir = os.fspath(path)
  if not path.is_dir():
    raise ConversionError(f"no params checkpoint at {params_dir}")
  pure = _pure(target)
  check_param_shapes(params_dir, {k: t.shape for k, t in flatten(pure).items()}, "the model")
  restore_args = ocp.checkpoint_utils.construct_restore_args(pure)
  with ocp.PyTreeCheckpointer() as ckptr:
    restored = ckptr.restore(path, args=ocp.args.PyTreeRestore(item=pure, restore_args=restore_args))
  if isinstance(target, nnx.State):
    state = jax.tree.map(lambda x: x, target)
    nnx.replace_by_pure_dict(state, restored)
    return state
  return restored


def check_param_shapes(params_dir: str, expected: Mapping[str, tuple[int, ...]], against: str) -> None:
  """Raises a ConversionError naming the param if the stored params differ from `expected` in name or shape;
  `against` says where the expectation comes from (e.g. "the model" or a config.json path)."""
  stored = param_shapes(params_dir)
  missing = sorted(set(expected) - set(stored))
  extra = sorted(set(stored) - set(expected))
  if missing or extra:
    raise ConversionError(f"{params_dir}: params do not match {against}: missing {missing}, unexpected {extra}")
  for k, shape in expected.items():
    if tuple(stored[k]) != tuple(shape):
      raise ConversionError(f"{params_dir}: param {k} has shape {tuple(stored[k])}, "
                            f"{against} implies {tuple(shape)}")


def item_metadata(item_dir: str | os.PathLike) -> Any:
  """The stored tree of one Orbax PyTree item (a converted checkpoint's params/, a trainer step's params/ or
  adapters/): nested dicts of leaf metadata with shape and dtype; no array data is read.

  Read with the item's handler, not a Checkpointer: a trainer step's items share the step's checkpoint metadata,
  a folder up, where a Checkpointer reading the item would not look (and would warn that it is missing)."""
  handler = ocp.PyTreeCheckpointHandler()
  try:
    return handler.metadata(io_paths.resolve(item_dir)).tree
  finally:
    handler.close()


def param_shapes(params_dir: str) -> dict[str, tuple[int, ...]]:
  """Dotted path -> stored shape, read from the checkpoint's metadata (no array data is read)."""
  return {k: tuple(v.shape) for k, v in flatten(item_metadata(params_dir)).items()}


def read_param(params_dir: str, dotted: str) -> np.ndarray:
  """One parameter as a host numpy array (stored dtype), without reading the others."""
  keys = dotted.split(".")
  item: dict = {}
  args: dict = {}
  node_i, node_a = item, args
  for k in keys[:-1]:
    node_i = node_i.setdefault(k, {})
    node_a = node_a.setdefault(k, {})
  node_i[keys[-1]] = 0
  node_a[keys[-1]] = ocp.RestoreArgs(restore_type=np.ndarray)
  with ocp.PyTreeCheckpointer() as ckptr:
    out = ckptr.restore(io_paths.resolve(params_dir),
                        args=ocp.args.PyTreeRestore(item=item, restore_args=args, partial_restore=True))
  for k in keys:
    out = out[k]
  return np.asarray(out)


def _stored_layout(params_dir: str) -> dict:
  meta = io_paths.read_json(io_paths.resolve(params_dir) / "_METADATA")
  return {"use_ocdbt": bool(meta.get("use_ocdbt", True)), "use_zarr3": bool(meta.get("use_zarr3", False))}


@functools.lru_cache(maxsize=None)
def _ts_context(use_ocdbt: bool) -> ts.Context:
  """One TensorStore context per process and layout, shared by every param read: separate contexts would each
  keep their own OCDBT driver and B-tree node caches."""
  return ts_utils.get_ts_context(use_ocdbt=use_ocdbt)


def open_param(params_dir: str, dotted: str) -> ts.TensorStore:
  """The stored array of one param, opened lazily (reads fetch only the chunks they touch)."""
  layout = _stored_layout(params_dir)
  context = _ts_context(layout["use_ocdbt"])
  info = ocp_types.ParamInfo(name=dotted, parent_dir=io_paths.resolve(params_dir), ts_context=context,
                             is_ocdbt_checkpoint=layout["use_ocdbt"], use_zarr3=layout["use_zarr3"])
  spec = ts_utils.build_array_read_spec(info, use_ocdbt=layout["use_ocdbt"])
  return ts.open(ts.Spec(spec.json), open=True, context=context).result()


def read_blocks(params_dir: str, dotted: str, axis: int) -> Iterator[tuple[int, np.ndarray]]:
  """(start, block) along `axis`, blocks as wide as the stored chunks on that axis (a converted checkpoint:
  one layer, or one vocabulary block; a trainer checkpoint: usually the whole array)."""
  store = open_param(params_dir, dotted)
  step = max(1, int(store.chunk_layout.read_chunk.shape[axis] or store.shape[axis]))
  for start in range(0, store.shape[axis], step):
    index = (slice(None),) * axis + (slice(start, min(start + step, store.shape[axis])),)
    yield start, store[index].read().result()


def flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
  """Nested dict -> {"a.b.c": leaf}; None leaves (e.g. lm_head of a tied model) are dropped."""
  out = {}
  for k, v in tree.items():
    key = f"{prefix}{k}"
    if isinstance(v, Mapping):
      out.update(flatten(v, key + "."))
    elif v is not None:
      out[key] = v
  return out


def unflatten(flat: Mapping[str, Any]) -> dict:
  out: dict = {}
  for key, v in flat.items():
    node = out
    parts = key.split(".")
    for p in parts[:-1]:
      node = node.setdefault(p, {})
    node[parts[-1]] = v
  return out
