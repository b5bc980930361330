"""Reading and writing safetensors one tensor at a time, with bounded memory.

The format is an 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}} and
the raw bytes. We read each tensor with a positioned read straight into a numpy buffer instead of
memory-mapping the file: a mapped file's touched pages count towards resident memory until the map is
closed, which would make the peak grow with every tensor read. Parsing the header ourselves also lets us name
the truncated file and tensor precisely.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import struct
from typing import BinaryIO, Iterable, Sequence

import ml_dtypes
import numpy as np

from meta_rfft.convert.errors import ConversionError

INDEX_NAME = "model.safetensors.index.json"
SINGLE_NAME = "model.safetensors"

DTYPES = {"F32": np.dtype(np.float32), "F16": np.dtype(np.float16), "BF16": np.dtype(ml_dtypes.bfloat16)}
DTYPE_CODES = {v: k for k, v in DTYPES.items()}


@dataclasses.dataclass(frozen=True)
class TensorEntry:
  name: str
  path: str
  dtype: np.dtype
  shape: tuple[int, ...]
  start: int        # absolute byte offset in the file
  nbytes: int


def read_header(path: str) -> tuple[dict[str, TensorEntry], dict]:
  """(tensors by name, the header's __metadata__) of one safetensors file, checked against its size."""
  size = os.path.getsize(path)
  with open(path, "rb") as f:
    head = f.read(8)
    if len(head) < 8:
      raise ConversionError(f"{path}: truncated safetensors file ({size} bytes, no header)")
    (n,) = struct.unpack("<Q", head)
    if 8 + n > size:
      raise ConversionError(f"{path}: truncated safetensors file (header needs {8 + n} bytes, "
                            f"file has {size})")
    try:
      header = json.loads(f.read(n))
    except json.JSONDecodeError as e:
      raise ConversionError(f"{path}: corrupt safetensors header ({e})") from e
  metadata = header.pop("__metadata__", {}) or {}
  entries = {}
  for name, h in header.items():
    if h["dtype"] not in DTYPES:
      raise ConversionError(f"{path}: tensor {name} has dtype {h['dtype']}; supported: {sorted(DTYPES)}")
    begin, end = h["data_offsets"]
    dtype, shape = DTYPES[h["dtype"]], tuple(int(s) for s in h["shape"])
    if end - begin != math.prod(shape) * dtype.itemsize:
      raise ConversionError(f"{path}: tensor {name} spans {end - begin} bytes, its shape {shape} needs "
                            f"{math.prod(shape) * dtype.itemsize}")
    if 8 + n + end > size:
      raise ConversionError(f"{path}: truncated safetensors file: tensor {name} ends at byte {8 + n + end}, "
                            f"the file has {size} bytes")
    entries[name] = TensorEntry(name, path, dtype, shape, 8 + n + begin, end - begin)
  return entries, metadata


def weight_files(hf_dir: str) -> list[str]:
  """The safetensors files of a HF folder: those of the index if there is one, else every *.safetensors."""
  index = os.path.join(hf_dir, INDEX_NAME)
  if os.path.exists(index):
    with open(index) as f:
      weight_map = json.load(f).get("weight_map")
    if not isinstance(weight_map, dict):
      raise ConversionError(f"{index}: no 'weight_map'")
    files = sorted(set(weight_map.values()))
    for name in files:
      if not os.path.exists(os.path.join(hf_dir, name)):
        raise ConversionError(f"{index} lists {name}, which is missing from {hf_dir}")
    return [os.path.join(hf_dir, name) for name in files]
  files = sorted(n for n in os.listdir(hf_dir) if n.endswith(".safetensors"))
  if not files:
    raise ConversionError(f"{hf_dir}: no *.safetensors files (and no {INDEX_NAME}); only safetensors is read")
  return [os.path.join(hf_dir, n) for n in files]


def index_folder(hf_dir: str) -> dict[str, TensorEntry]:
  """Every tensor of the folder, by name; a name in two files, or not where the index says, is an error."""
  out: dict[str, TensorEntry] = {}
  for path in weight_files(hf_dir):
    entries, _ = read_header(path)
    for name, e in entries.items():
      if name in out:
        raise ConversionError(f"tensor {name} appears in both {out[name].path} and {path}")
      out[name] = e
  index = os.path.join(hf_dir, INDEX_NAME)
  if os.path.exists(index):
    with open(index) as f:
      weight_map = json.load(f)["weight_map"]
    for name, file in sorted(weight_map.items()):
      if name not in out or os.path.basename(out[name].path) != file:
        found = os.path.basename(out[name].path) if name in out else "no file"
        raise ConversionError(f"{index} places tensor {name} in {file}, but {found} holds it")
  return out


class Reader:
  """Positioned reads of tensors, keeping one open handle per file."""

  def __init__(self):
    self._files: dict[str, BinaryIO] = {}

  def read(self, e: TensorEntry) -> np.ndarray:
    f = self._files.get(e.path)
    if f is None:
      f = self._files[e.path] = open(e.path, "rb")
    buf = np.empty(e.nbytes, np.uint8)
    f.seek(e.start)
    got = f.readinto(memoryview(buf))
    if got != e.nbytes:
      raise ConversionError(f"{e.path}: truncated while reading tensor {e.name} ({got} of {e.nbytes} bytes)")
    return buf.view(e.dtype).reshape(e.shape)

  def read_rows(self, e: TensorEntry, start: int, stop: int) -> np.ndarray:
    """Rows [start, stop) of a tensor (contiguous in the file, so one read)."""
    row_bytes = e.nbytes // e.shape[0]
    sub = TensorEntry(f"{e.name}[{start}:{stop}]", e.path, e.dtype, (stop - start, *e.shape[1:]),
                      e.start + start * row_bytes, (stop - start) * row_bytes)
    return self.read(sub)

  def close(self):
    for f in self._files.values():
      f.close()
    self._files.clear()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


@dataclasses.dataclass(frozen=True)
class PlannedTensor:
  name: str
  dtype: np.dtype
  shape: tuple[int, ...]

  @property
  def nbytes(self) -> int:
    return math.prod(self.shape) * self.dtype.itemsize


def plan_shards(tensors: Sequence[PlannedTensor], max_shard_bytes: int) -> list[list[PlannedTensor]]:
  """Consecutive groups of at most `max_shard_bytes` (a tensor larger than that gets a shard of its own)."""
  shards: list[list[PlannedTensor]] = [[]]
  size = 0
  for t in tensors:
    if shards[-1] and size + t.nbytes > max_shard_bytes:
      shards.append([])
      size = 0
    shards[-1].append(t)
    size += t.nbytes
  return shards


def shard_names(count: int) -> list[str]:
  if count == 1:
    return [SINGLE_NAME]
  return [f"model-{k + 1:05d}-of-{count:05d}.safetensors" for k in range(count)]


class ShardedWriter:
  """Writes planned tensors, in plan order, across the shard files; the headers are written up front."""

  def __init__(self, out_dir: str, shards: list[list[PlannedTensor]]):
    self._out_dir, self._shards = out_dir, shards
    self._names = shard_names(len(shards))
    self._order = [(k, t) for k, shard in enumerate(shards) for t in shard]
    self._pos = 0
    self._file: BinaryIO | None = None
    self._file_k = -1

  def _open(self, k: int):
    if self._file is not None:
      self._file.close()
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for t in self._shards[k]:
      header[t.name] = {"dtype": DTYPE_CODES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + t.nbytes]}
      offset += t.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # keep the data 8-byte aligned, as the reference writer does
    self._file = open(os.path.join(self._out_dir, self._names[k]), "wb")
    self._file.write(struct.pack("<Q", len(raw)) + raw)
    self._file_k = k

  def write(self, name: str, row_blocks: Iterable[np.ndarray]) -> None:
    """Writes the next planned tensor from consecutive blocks of its rows (a whole tensor is one block)."""
    k, t = self._order[self._pos]
    if k != self._file_k:
      self._open(k)
    rows = 0
    for x in row_blocks:
      if name != t.name or x.dtype != t.dtype or tuple(x.shape[1:]) != t.shape[1:] or x.ndim != len(t.shape):
        raise AssertionError(f"export wrote {name} {x.dtype} {x.shape}, planned {t.name} {t.dtype} {t.shape}")
      self._file.write(memoryview(np.ascontiguousarray(x).reshape(-1).view(np.uint8)))
      rows += x.shape[0] if x.ndim else 1
    if rows != (t.shape[0] if t.shape else 1):
      raise AssertionError(f"export wrote {rows} rows of {name}, planned {t.shape}")
    self._pos += 1

  def close(self) -> dict:
    """Finishes the last file; returns the index dict ({"metadata": ..., "weight_map": ...})."""
    if self._file is not None:
      self._file.close()
      self._file = None
    if self._pos != len(self._order):
      raise AssertionError(f"export wrote {self._pos} of {len(self._order)} planned tensors")
    total = sum(t.nbytes for _, t in self._order)
    return {"metadata": {"total_size": total},
            "weight_map": {t.name: self._names[k] for k, t in self._order}}


def parse_size(text: str | int) -> int:
  """'5GB', '500MB', '40KB' or a byte count -> bytes (decimal units, as transformers' max_shard_size)."""
  if isinstance(text, int):
    size = text
  else:
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*(GIB|MIB|KIB|GB|MB|KB|B)?\s*", str(text).upper())
    if not match:
      raise ValueError(f"--max_shard_size={text!r}: expected a size such as 5GB, 500MB, 2GiB or a byte count")
    mult = {"GIB": 2**30, "MIB": 2**20, "KIB": 2**10, "GB": 10**9, "MB": 10**6, "KB": 10**3, "B": 1, None: 1}
    size = int(float(match.group(1)) * mult[match.group(2)])
  if size < 1:
    raise ValueError(f"--max_shard_size={text!r}: must be at least one byte")
  return size


