"""Output folders written all-or-nothing, and the file/dtype vocabulary shared by both directions."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import Iterator

import ml_dtypes
import numpy as np

from meta_rfft.convert.errors import ConversionError

DTYPES = {"float32": np.dtype(np.float32), "bfloat16": np.dtype(ml_dtypes.bfloat16),
          "float16": np.dtype(np.float16)}
# Files of a HF folder that hold weights (never carried along as "side files").
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".ckpt", ".gguf")


def check_dtype(dtype: str) -> np.dtype:
  if dtype not in DTYPES:
    raise ConversionError(f"--dtype {dtype!r} unsupported; choose from {sorted(DTYPES)}")
  return DTYPES[dtype]


def check_output_free(out: str) -> None:
  if os.path.lexists(out):
    raise ConversionError(f"output folder {out} already exists; remove it or choose another --out")
  parent = os.path.dirname(os.path.abspath(out))
  while not os.path.lexists(parent):
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent):
    raise ConversionError(f"--out {out}: {parent} is not a folder")


def _make_parents(out: str) -> list[str]:
  """Creates the missing parent folders of `out`; returns those it created, deepest first."""
  made = []
  parent = os.path.dirname(os.path.abspath(out))
  while not os.path.isdir(parent):
    made.append(parent)
    parent = os.path.dirname(parent)
  for folder in reversed(made):
    try:
      os.mkdir(folder)
    except OSError as e:
      raise ConversionError(f"--out {out}: cannot create the folder {folder}: {e.strerror}") from None
  return made


def side_files(folder: str, skip: tuple[str, ...] = ()) -> list[str]:
  """Names of the non-weight files of a HF folder (config, generation config, tokenizer files, ...)."""
  return [n for n in sorted(os.listdir(folder))
          if os.path.isfile(os.path.join(folder, n)) and not n.startswith(".") and n not in skip
          and not n.endswith(WEIGHT_SUFFIXES) and n != "model.safetensors.index.json"]


@contextlib.contextmanager
def staged_output(out: str) -> Iterator[str]:
  """Yields a temporary folder next to `out` (creating its missing parents); renames it to `out` on success,
  deletes it (and the parents it created) on any failure."""
  check_output_free(out)
  out = os.path.abspath(out)
  made = _make_parents(out)  # --out's missing parents, removed again if nothing lands in them
  try:
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.tmp-", dir=os.path.dirname(out))
    try:
      yield tmp
      mask = os.umask(0)
      os.umask(mask)
      os.chmod(tmp, 0o777 & ~mask)  # mkdtemp makes it private; the result is an ordinary folder
      os.rename(tmp, out)
    except BaseException:
      shutil.rmtree(tmp, ignore_errors=True)
      raise
  except BaseException:
    for folder in made:
      with contextlib.suppress(OSError):
        os.rmdir(folder)  # only while empty
    raise
