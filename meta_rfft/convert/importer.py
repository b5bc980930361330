"""HF folder (config.json, safetensors, tokenizer) -> converted checkpoint CKPT/{params, hf, meta_rfft.json}.

Streams: each of our (stacked) parameters is written piece by piece, one layer's HF tensor (or one block of
vocabulary rows) at a time, read from the safetensors file, reshaped, written into the Orbax checkpoint as one
zarr chunk and released. Peak host memory is a few times the largest HF tensor block, not the model.
Everything is checked before any array is read (model_type, every tensor present, none extra, every shape as
config.json implies, no truncated file), and the output is written to a temporary folder renamed at the end,
so a failure leaves nothing behind.
"""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
from flax import nnx

from meta_rfft import layouts
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
  if cfg.arch.tie_word_embeddings:
    ignorable.add("lm_head.weight")  # some tied checkpoints still store the (identical) head; it is unused
  missing = sorted(set(expected) - set(entries))
  if missing:
    raise ConversionError(f"{hf_dir}: missing tensors {missing[:8]}{' ...' if len(missing) > 8 else ''} "
                          f"({len(missing)} missing) for a {cfg.arch.model_type} model with this config.json")
  extra = sorted(set(entries) - set(expected) - ignorable)
  if extra:
    raise ConversionError(f"{hf_dir}: unexpected tensors {extra[:8]}{' ...' if len(extra) > 8 else ''} "
                          f"(in {sorted({os.path.basename(entries[n].path) for n in extra})}); "
                          f"not part of a {cfg.arch.model_type} model with this config.json")
  for name, r in expected.items():
    want = mapping.hf_shape(r, cfg)
    if entries[name].shape != want:
      raise ConversionError(f"{os.path.basename(entries[name].path)}: tensor {name} has shape "
                            f"{entries[name].shape}, config.json implies {want} (symbols {r.hf_shape})")


# Vocabulary-sized params (embedding, LM head) are streamed in blocks of rows of about this many bytes.
BLOCK_BYTES = 16 << 20


def lazy_param(row: mapping.Row, cfg: ModelConfig, shape: tuple[int, ...], dtype: np.dtype,
               entries: dict[str, TensorEntry], reader: Reader) -> LazyArray:
  """Our param of `row`, produced piece by piece from the HF tensors: a stacked param one layer at a time, a
  vocabulary-sized matrix in blocks of HF rows, anything else whole."""
  names = mapping.hf_names(row, cfg)
  hf = mapping.hf_shape(row, cfg)
  if row.stacked:
    def layers():
      for i, name in enumerate(names):
        piece = mapping.to_ours(reader.read(entries[name]), row, shape[1:])
        yield (slice(i, i + 1),), piece.astype(dtype, copy=False)[None]
    return LazyArray(shape, dtype, (1, *shape[1:]), layers)
  if len(hf) == 2 and shape == (hf[::-1] if row.transpose else hf):
    rows = max(1, min(hf[0], BLOCK_BYTES // (hf[1] * entries[names[0]].dtype.itemsize)))

    def blocks():
      for r0 in range(0, hf[0], rows):
        block = reader.read_rows(entries[names[0]], r0, min(r0 + rows, hf[0]))
        if row.transpose:  # HF rows r0:r1 are our columns r0:r1
          yield (slice(None), slice(r0, r0 + block.shape[0])), block.T.astype(dtype)
        else:
          yield (slice(r0, r0 + block.shape[0]),), block.astype(dtype, copy=False)
    return LazyArray(shape, dtype, (hf[1], rows) if row.transpose else (rows, hf[1]), blocks)

  def whole():
    value = mapping.to_ours(reader.read(entries[names[0]]), row, shape)
    yield (slice(None),) * len(shape), value.astype(dtype)
  return LazyArray(shape, dtype, shape, whole)


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
  """Converts the HF folder `hf_dir` into the checkpoint folder `out` (created with its missing parents; must not
  exist); returns `out`. `dtype`: float32 | bfloat16 | float16 for the stored params; default: the HF tensors'."""
  check_output_free(out)
  config_path = os.path.join(hf_dir, "config.json")
  if not os.path.exists(config_path):
    raise ConversionError(f"{hf_dir}: no config.json")
  hf = load_hf_config(config_path)
  entries = index_folder(hf_dir)
  with Reader() as reader:
    return convert(hf, entries, reader, out, dtype or default_dtype(entries), source=hf_dir,
                   side_files=lambda dest: _copy_side_files(hf_dir, dest))


def convert(hf: dict, entries: dict, reader, out: str, dtype: str, *, source: str, side_files) -> str:
  """The conversion both sources share: `entries` (HF tensor name -> an entry with `shape`, `dtype`, `path`) read
  through `reader` (`read(entry)`, `read_rows(entry, r0, r1)`: HF layout), checked against the model `hf` (a
  config.json dict) before anything is written; `side_files(dest)` writes the HF config and tokenizer files."""
  np_dtype = check_dtype(dtype)
  cfg = model_config(hf, os.path.join(source, "config.json") if os.path.isdir(source) else source, param_dtype=dtype)
  rows = mapping.rows_for(cfg)
  shapes = our_shapes(cfg)
  mapping.check_rows_cover(rows, shapes, cfg)
  check_tensors(entries, rows, cfg, source)
  with staged_output(out) as tmp:
    staged = layouts.Converted.at(tmp)
    flat = {r.ours: lazy_param(r, cfg, shapes[r.ours], np_dtype, entries, reader) for r in rows}
    save_streaming(os.fspath(staged.params), unflatten(flat))
    side_files(os.fspath(staged.hf))
    with open(staged.meta, "w") as f:
      json.dump({"format": FORMAT, "dtype": dtype, "source": os.path.abspath(source),
                 "model_type": cfg.arch.model_type}, f, indent=2)
  return os.path.abspath(out)
