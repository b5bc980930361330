"""Checkpoint (converted, trainer step or trainer WORKDIR) -> HF folder loadable by transformers.

Streams like the import: each of our params is read block by block as it is stored (one layer, or one block of
vocabulary rows, for a converted checkpoint; trainer checkpoints usually store a param as one block), turned
into HF tensors and appended to the shard being written. HF tensors are therefore grouped by kind in
the files (all q_proj weights, then all k_proj, ...); the index maps every name to its file, which is all
transformers and serving stacks use. Trainer adapters are folded in (merge_adapters), optimizer state is never
read. The folder is assembled under a temporary name and renamed at the end.
"""
from __future__ import annotations

import json
import os
import shutil

import numpy as np

from meta_rfft.convert import mapping
from meta_rfft.convert.checkpoint import check_param_shapes, open_param, read_blocks, read_param
from meta_rfft.convert.errors import ConversionError
from meta_rfft.convert.files import DTYPES, check_dtype, check_output_free, side_files, staged_output
from meta_rfft.convert.importer import model_config, our_shapes
from meta_rfft.convert.safetensors_io import INDEX_NAME, PlannedTensor, ShardedWriter, parse_size, plan_shards
from meta_rfft.convert.sources import Source, adapted_targets, adapter_config, read_merged_param, resolve

# What transformers writes for each dtype (config.json `dtype`, and `torch_dtype` for transformers 4 readers).
_TORCH_NAMES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}


def _export_config(hf: dict, dtype: str) -> dict:
  out = dict(hf)
  out["dtype"] = out["torch_dtype"] = _TORCH_NAMES[dtype]
  return out


def _copy_hf_side_files(hf_dir: str, dest: str, dtype: str) -> None:
  for name in side_files(hf_dir, skip=("config.json",)):
    shutil.copy2(os.path.join(hf_dir, name), os.path.join(dest, name))
  with open(os.path.join(hf_dir, "config.json")) as f:
    hf = json.load(f)
  with open(os.path.join(dest, "config.json"), "w") as f:
    json.dump(_export_config(hf, dtype), f, indent=2, sort_keys=True)
  if not os.path.exists(os.path.join(dest, "generation_config.json")):
    # transformers' generate() reads this; derive it from config.json as transformers itself would.
    gen = {k: hf[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id") if hf.get(k) is not None}
    with open(os.path.join(dest, "generation_config.json"), "w") as f:
      json.dump(gen, f, indent=2, sort_keys=True)


def _hf_tensors(src: Source, row: mapping.Row, cfg, ad_cfg: dict | None, dtype: np.dtype):
  """(HF name, its row blocks) for one of our params, read block by block as stored: a converted checkpoint
  yields one layer (or one vocabulary block) at a time; an adapted kernel is read whole and merged."""
  names = mapping.hf_names(row, cfg)
  if adapted_targets(row.ours, ad_cfg):
    value = np.asarray(read_merged_param(src, row.ours, ad_cfg))
    slices = list(value) if row.stacked else [value]
    for name, x in zip(names, slices):
      yield name, [mapping.to_hf(x, row, cfg).astype(dtype)]
    return
  if row.stacked:
    for start, block in read_blocks(src.params_dir, row.ours, axis=0):
      for j in range(block.shape[0]):
        yield names[start + j], [mapping.to_hf(block[j], row, cfg).astype(dtype)]
    return
  hf = mapping.hf_shape(row, cfg)
  shape = tuple(open_param(src.params_dir, row.ours).shape)
  if len(hf) == 2 and shape == (hf[::-1] if row.transpose else hf):
    # Vocabulary-sized: HF rows are our rows (embedding) or our columns (LM head), streamed in stored blocks.
    axis = 1 if row.transpose else 0
    yield names[0], ((b.T if row.transpose else b).astype(dtype) for _, b in
                     read_blocks(src.params_dir, row.ours, axis=axis))
    return
  yield names[0], [mapping.to_hf(read_param(src.params_dir, row.ours), row, cfg).astype(dtype)]


def orbax_to_hf(ckpt: str, out: str, dtype: str | None = None, max_shard_size: str | int = "5GB") -> str:
  """Exports checkpoint `ckpt` to the HF folder `out` (must not exist); returns `out`.

  `dtype`: float32 | bfloat16 | float16; default: the dtype named in the original config.json, else float32.
  """
  check_output_free(out)
  src = resolve(ckpt)
  config_path = os.path.join(src.hf_dir, "config.json")
  if not os.path.exists(config_path):
    raise ConversionError(f"{src.hf_dir}: no config.json to export with")
  with open(config_path) as f:
    hf = json.load(f)
  if dtype is None:
    named = hf.get("dtype") or hf.get("torch_dtype")
    dtype = named if named in DTYPES else "float32"
  np_dtype = check_dtype(dtype)
  cfg = model_config(hf, config_path)
  rows = mapping.rows_for(cfg)
  shapes = our_shapes(cfg)
  mapping.check_rows_cover(rows, shapes, cfg)
  check_param_shapes(src.params_dir, shapes, config_path)
  ad_cfg = adapter_config(src)

  planned = [PlannedTensor(name, np_dtype, mapping.hf_shape(r, cfg)) for r in rows
             for name in mapping.hf_names(r, cfg)]
  shards = plan_shards(planned, parse_size(max_shard_size))

  with staged_output(out) as tmp:
    writer = ShardedWriter(tmp, shards)
    for r in rows:
      for name, blocks in _hf_tensors(src, r, cfg, ad_cfg, np_dtype):
        writer.write(name, blocks)
    index = writer.close()
    if len(shards) > 1:
      with open(os.path.join(tmp, INDEX_NAME), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
    _copy_hf_side_files(src.hf_dir, tmp, dtype)
  return os.path.abspath(out)
