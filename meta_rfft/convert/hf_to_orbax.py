"""HF folder (config.json + safetensors + tokenizer) -> converted checkpoint CKPT/{params, hf, meta_rfft.json}.

Streams: each of our (stacked) parameters is built from its per-layer HF tensors, read one at a time into a
preallocated array of that one parameter, written by Orbax and released before the next one is built. Peak
host memory is about the largest stacked parameter, not the model. Everything is checked before any array is
read (model_type, every tensor present, none extra, every shape as config.json implies, no truncated file), and
the output is written to a temporary folder renamed at the end, so a failure leaves nothing behind.
"""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
from flax import nnx

from meta_rfft.convert import mapping
from meta_rfft.convert.checkpoint import LazyArray, flatten, save_streaming, unflatten
from meta_rfft.convert.errors import ConversionError
from meta_rfft.convert.files import DTYPES, check_dtype, check_output_free, side_files, staged_output
from meta_rfft.convert.safetensors_io import Reader, TensorEntry, index_folder
from meta_rfft.model.config import ModelConfig, from_hf_config, load_hf_config
from meta_rfft.model.decoder import Decoder

FORMAT = "meta_rfft.converted"


def model_config(hf: dict, source: str, **run_options) -> ModelConfig:
  try:
    return from_hf_config(hf, **run_options)
  except ValueError as e:
    raise ConversionError(f"{source}: {e}") from e


def our_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
  """Dotted param path -> shape, from the model itself (abstractly: nothing is allocated)."""
  abstract = nnx.eval_shape(lambda: Decoder(cfg, rngs=nnx.Rngs(0)))
  return {k: tuple(v.shape) for k, v in flatten(nnx.state(abstract, nnx.Param).to_pure_dict()).items()}


def check_tensors(entries: dict[str, TensorEntry], rows: list[mapping.Row], cfg: ModelConfig,
                  hf_dir: str) -> None:
  """Missing, extra and misshapen tensors, each named (all of one kind reported together)."""
  expected = {name: r for r in rows for name in mapping.hf_names(r, cfg)}
  ignorable = {n for n in entries if n.endswith(mapping.IGNORED_SUFFIXES)}
  if cfg.tie_word_embeddings:
    ignorable.add("lm_head.weight")  # some tied checkpoints still store the (identical) head; it is unused
  missing = sorted(set(expected) - set(entries))
  if missing:
    raise ConversionError(f"{hf_dir}: missing tensors {missing[:8]}{' ...' if len(missing) > 8 else ''} "
                          f"({len(missing)} missing) for a {cfg.model_type} model with this config.json")
  extra = sorted(set(entries) - set(expected) - ignorable)
  if extra:
    raise ConversionError(f"{hf_dir}: unexpected tensors {extra[:8]}{' ...' if len(extra) > 8 else ''} "
                          f"(in {sorted({os.path.basename(entries[n].path) for n in extra})}); "
                          f"not part of a {cfg.model_type} model with this config.json")
  for name, r in expected.items():
    want = mapping.hf_shape(r, cfg)
    if entries[name].shape != want:
      raise ConversionError(f"{os.path.basename(entries[name].path)}: tensor {name} has shape "
                            f"{entries[name].shape}, config.json implies {want} (symbols {r.hf_shape})")


def _builder(row: mapping.Row, names: list[str], shape: tuple[int, ...], dtype: np.dtype,
             entries: dict[str, TensorEntry], reader: Reader):
  def build() -> np.ndarray:
    if not row.stacked:
      return mapping.to_ours(reader.read(entries[names[0]]), row, shape).astype(dtype)
    out = np.empty(shape, dtype)
    for i, name in enumerate(names):
      out[i] = mapping.to_ours(reader.read(entries[name]), row, shape[1:])
    return out
  return build


def default_dtype(entries: dict[str, TensorEntry]) -> str:
  """The checkpoint's own dtype (that of its embedding), so a plain conversion changes no value."""
  dt = entries["model.embed_tokens.weight"].dtype if "model.embed_tokens.weight" in entries else None
  for name, d in DTYPES.items():
    if d == dt:
      return name
  return "float32"


def _copy_side_files(hf_dir: str, dest: str) -> None:
  os.makedirs(dest)
  for name in side_files(hf_dir):
    shutil.copy2(os.path.join(hf_dir, name), os.path.join(dest, name))


def hf_to_orbax(hf_dir: str, out: str, dtype: str | None = None) -> str:
  """Converts the HF folder `hf_dir` into the checkpoint folder `out` (must not exist); returns `out`.

  `dtype`: float32 | bfloat16 | float16 for the stored params; default: the HF tensors' own dtype.
  """
  check_output_free(out)
  config_path = os.path.join(hf_dir, "config.json")
  if not os.path.exists(config_path):
    raise ConversionError(f"{hf_dir}: no config.json")
  hf = load_hf_config(config_path)
  entries = index_folder(hf_dir)
  dtype = dtype or default_dtype(entries)
  np_dtype = check_dtype(dtype)
  cfg = model_config(hf, config_path, param_dtype=dtype)
  rows = mapping.rows_for(cfg)
  shapes = our_shapes(cfg)
  mapping.check_rows_cover(rows, shapes, cfg)
  check_tensors(entries, rows, cfg, hf_dir)

  with staged_output(out) as tmp, Reader() as reader:
    flat = {r.ours: LazyArray(shapes[r.ours], np_dtype,
                              _builder(r, mapping.hf_names(r, cfg), shapes[r.ours], np_dtype, entries, reader))
            for r in rows}
    save_streaming(os.path.join(tmp, "params"), unflatten(flat))
    _copy_side_files(hf_dir, os.path.join(tmp, "hf"))
    with open(os.path.join(tmp, "meta_rfft.json"), "w") as f:
      json.dump({"format": FORMAT, "dtype": dtype, "source": os.path.abspath(hf_dir),
                 "model_type": cfg.model_type}, f, indent=2)
  return os.path.abspath(out)
