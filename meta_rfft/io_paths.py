"""Paths under WORKDIR that may be local folders or object-store URLs (gs://..., any scheme epath knows).

Every file the trainer and evaluator write under WORKDIR goes through these helpers, so that
`--workdir=gs://bucket/run` works without a gcsfuse mount (Orbax checkpoints on gcsfuse are fragile: folder
renames there are not atomic). Local paths behave as before: made absolute, written to a temporary file and
renamed. On an object store, uploading a whole object is itself atomic (readers see the old object or the new
one, never a part), so a single write replaces the tmp + rename; there are no renames of folders at all.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import sys
import tempfile
import uuid
from typing import Any, Iterable, Iterator, NoReturn

from etils import epath

PathLike = str | os.PathLike


def is_url(path: PathLike) -> bool:
  """True for `scheme://...` (an object store), False for a local path."""
  return "://" in os.fspath(path)


def resolve(path: PathLike) -> epath.Path:
  """A local path made absolute, or a URL kept exactly as given (never turned into a local path)."""
  text = os.fspath(path)
  if not text:
    raise ValueError("empty path")
  return epath.Path(text if is_url(text) else os.path.abspath(text))


def join(base: PathLike, *parts: str) -> str:
  """`base/parts...` as a string: a local path made absolute, or a URL that keeps its scheme (os.path.join
  would do for both, but abspath on a URL would not)."""
  return os.fspath(resolve(base).joinpath(*parts))


def read_json(path: PathLike):
  """A small JSON file (config.json, meta_rfft.json, tokenizer files) from local disk or an object store."""
  return json.loads(read_text(path))


def jsonl_values(data: bytes, name: str) -> Iterator[tuple[int, str, Any]]:
  """(line number, "NAME:LINE", decoded value) of every non-blank line of a JSON-lines file's bytes; a line that is
  not UTF-8 or not JSON is a ValueError naming the file and the line (callers check the values the same way).
  The one JSONL reader: general data files, question-answer sets, conversations and TART's text examples."""
  for number, raw in enumerate(data.split(b"\n"), start=1):
    where = f"{name}:{number}"
    try:
      text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
      raise ValueError(f"{where}: not UTF-8 (byte {raw[e.start]:#04x} at column {e.start + 1})") from None
    text = text.lstrip("\ufeff") if number == 1 else text
    if not text.strip():
      continue
    try:
      value = json.loads(text)
    except json.JSONDecodeError as e:
      raise ValueError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
    yield number, where, value


def read_jsonl(path: PathLike, what: str) -> Iterator[tuple[int, str, Any]]:
  """jsonl_values of the file at `path` (local or a URL); a missing file or a folder is a ValueError naming
  `what` (e.g. "conversations file") and the path."""
  source = resolve(path)
  if source.is_dir():
    raise ValueError(f"{what} {path} is a directory")
  if not source.is_file():
    raise ValueError(f"{what} {path} does not exist")
  return jsonl_values(source.read_bytes(), os.fspath(path))


def write_bytes(path: PathLike, data: bytes) -> None:
  """Writes the whole file so that no reader ever sees a part of it (see the module docstring)."""
  path = resolve(path)
  if is_url(path):
    path.write_bytes(data)
    return
  path.parent.mkdir(parents=True, exist_ok=True)
  # A unique temporary name: two processes saving the same file never write into each other's temporary.
  tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
  try:
    with open(tmp, "wb") as f:
      f.write(data)
    os.replace(tmp, path)
  except BaseException as e:
    tmp.unlink(missing_ok=True)
    if isinstance(e, OSError):
      _raise_naming(e, path)
    raise


STOP_SIGNALS = ("SIGTERM", "SIGHUP", "SIGINT")


@contextlib.contextmanager
def stop_signals_raise() -> Iterator[None]:
  """Within it, SIGTERM, SIGHUP and SIGINT raise SystemExit(128 + signal) (by default the first two end the
  process without unwinding Python), so that a command writing through a temporary file cleans it up on any
  stop a scheduler, a closed terminal or ^C sends. Only the main thread can handle signals; elsewhere it does
  nothing. Not for the trainer, whose SIGTERM goes to JAX's preemption service."""
  def stop(signum, frame):
    raise SystemExit(128 + signum)
  previous = {}
  try:
    for name in STOP_SIGNALS:
      sig = getattr(signal, name, None)
      if sig is not None:
        previous[sig] = signal.signal(sig, stop)
  except ValueError:  # not the main thread
    pass
  try:
    yield
  finally:
    for sig, handler in previous.items():
      signal.signal(sig, handler)


@contextlib.contextmanager
def atomic_text_output(path: PathLike, encoding: str = "utf-8") -> Iterator[Any]:
  """A local text file written whole or not at all: yields a file object on `.<name>.<pid>.partial` beside
  `path`, renamed to `path` on success and removed on any failure or stop signal. Its mode is an ordinary
  file's (0666 less the umask), as every other output. Partial files a killed (SIGKILL) earlier writer of the
  same `path` left behind are removed first."""
  path = os.path.abspath(os.fspath(path))
  folder, name = os.path.split(path)
  os.makedirs(folder, exist_ok=True)
  for stale in os.listdir(folder):
    parts = stale.split(".")
    if stale.startswith(f".{name}.") and stale.endswith(".partial") and parts[-2].isdigit() and \
        not _alive(int(parts[-2])):
      with contextlib.suppress(OSError):
        os.unlink(os.path.join(folder, stale))
  tmp = os.path.join(folder, f".{name}.{os.getpid()}.partial")
  with stop_signals_raise():
    try:
      with open(tmp, "w", encoding=encoding) as f:
        yield f
      os.replace(tmp, path)
    except BaseException as e:
      with contextlib.suppress(OSError):
        os.unlink(tmp)
      if isinstance(e, OSError):
        _raise_naming(e, path)
      raise


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def _raise_naming(e: OSError, path: PathLike) -> NoReturn:
  """Re-raises an OS error from writing `path` with the path in it: a failed write() names no file."""
  if e.filename is None and e.errno is not None:
    raise type(e)(e.errno, e.strerror, os.fspath(path)) from e
  raise e


def write_text(path: PathLike, text: str) -> None:
  write_bytes(path, text.encode("utf-8"))


def read_text(path: PathLike) -> str:
  return resolve(path).read_text()


def append_lines(path: PathLike, lines: Iterable[str]) -> None:
  """Appends lines durably: on local disk one write, flushed and fsynced; an object store cannot append, so
  there the whole object is rewritten with the new lines (fine for files of a few MB written every few
  seconds, like the evaluator's samples.jsonl; per-step metrics use `LocalMirror` instead)."""
  text = "".join(line + "\n" for line in lines)
  path = resolve(path)
  if is_url(path):
    old = path.read_text() if path.exists() else ""
    path.write_text(old + text)
    return
  try:
    with open(path, "a") as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
  except OSError as e:
    _raise_naming(e, path)


def _local_files(local_dir: PathLike) -> Iterable[str]:
  """Paths of the files under the local folder `local_dir`, relative to it."""
  for root, _, files in os.walk(local_dir):
    rel = os.path.relpath(root, local_dir)
    for name in files:
      yield name if rel == "." else os.path.join(rel, name)


def _upload(local_file: PathLike, target: epath.Path) -> None:
  target.parent.mkdir(parents=True, exist_ok=True)
  with open(local_file, "rb") as f:
    target.write_bytes(f.read())


def upload_tree(local_dir: PathLike, dest: PathLike) -> None:
  """Copies every file under `local_dir` to the same relative path under `dest` (an existing `dest` is
  replaced as a whole)."""
  dest = resolve(dest)
  if dest.exists():
    dest.rmtree()
  for key in _local_files(local_dir):
    _upload(os.path.join(local_dir, key), dest / key)


def download_tree(src: PathLike, local_dir: PathLike) -> None:
  """Copies every file under `src` to the same relative path under the local folder `local_dir`."""
  # Not epath's walk(): with the fsspec backend it yields folders without their gs:// scheme.
  os.makedirs(local_dir, exist_ok=True)
  for child in resolve(src).iterdir():
    target = os.path.join(local_dir, child.name)
    if child.is_dir():
      download_tree(child, target)
    else:
      with open(target, "wb") as f:
        f.write(child.read_bytes())


class LocalMirror:
  """A local folder whose files are copied to `dest` on `sync()`, for writers that append often
  (metrics.jsonl, TensorBoard event files) to a WORKDIR on an object store, where appending means rewriting
  the object.

  For a local `dest` the folder IS `dest` and `sync` does nothing. Otherwise the files live in a temporary
  folder until `close()`; each sync uploads the files that changed since the last one (whole objects, so a
  reader sees the state of the last sync). The trainer syncs at every checkpoint and at the end, so what is
  on the object store is never older than the last checkpoint.
  """

  def __init__(self, dest: PathLike):
    self.dest = resolve(dest)
    self.remote = is_url(self.dest)
    if self.remote:
      self.local = tempfile.mkdtemp(prefix="meta_rfft_mirror_")
    else:
      self.local = os.fspath(self.dest)
      os.makedirs(self.local, exist_ok=True)
    self._synced: dict[str, tuple[int, int]] = {}

  def sync(self) -> None:
    if not self.remote:
      return
    for key in _local_files(self.local):
      st = os.stat(os.path.join(self.local, key))
      stamp = (st.st_size, st.st_mtime_ns)
      if self._synced.get(key) != stamp:
        _upload(os.path.join(self.local, key), self.dest / key)
        self._synced[key] = stamp

  def close(self) -> None:
    if self.remote:
      self.sync()
      shutil.rmtree(self.local, ignore_errors=True)


# ---- a full disk ----------------------------------------------------------------------------------------------
EXIT_NO_SPACE = 74  # sysexits' EX_IOERR: not a bad config (2), not a failed run (1)
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_FULL_TEXTS = (os.strerror(errno.ENOSPC), os.strerror(errno.EDQUOT))


class OutOfSpace(OSError):
  """A write refused before any byte of it was written: the file system under WORKDIR has no room for it."""


def free_bytes(path: PathLike) -> int | None:
  """Bytes a writer may still use on the file system that holds local `path` (or its nearest existing parent);
  None for a URL, where an object store has no such figure."""
  if is_url(path):
    return None
  probe = os.path.abspath(os.fspath(path))
  while not os.path.exists(probe) and os.path.dirname(probe) != probe:
    probe = os.path.dirname(probe)
  return shutil.disk_usage(probe).free


def check_room(path: PathLike, need: int, what: str, free: int | None = None) -> None:
  """Raises OutOfSpace naming `what` and `path` when fewer than `need` bytes are free there (`free`: a figure
  already measured, e.g. by another process)."""
  free = free_bytes(path) if free is None else free
  if free is not None and free < need:
    raise OutOfSpace(errno.ENOSPC, f"no room for {what} in {os.fspath(path)}: it needs about {_size(need)} and "
                                   f"{_size(free)} are free; nothing of it was written")


def _size(n: float) -> str:
  for unit in ("B", "KiB", "MiB", "GiB"):
    if n < 1024:
      return f"{n:.4g} {unit}"
    n /= 1024
  return f"{n:.4g} TiB"


def out_of_space_message(exc: BaseException) -> str | None:
  """The one line that says a write failed for lack of space, found anywhere in `exc`'s chain (Orbax and
  TensorStore wrap the OS error in their own exceptions, keeping only its text); None for any other error."""
  seen = set()
  while exc is not None and id(exc) not in seen:
    seen.add(id(exc))
    if isinstance(exc, OutOfSpace):
      return exc.strerror
    text = str(exc)
    if (isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS) or any(t in text for t in _FULL_TEXTS):
      where = f" writing {exc.filename}" if isinstance(exc, OSError) and exc.filename else ""
      return f"the disk is full{where}: " + " ".join(text.split())[:400]
    exc = exc.__cause__ or exc.__context__
  return None


def exit_if_out_of_space(exc: BaseException, program: str) -> None | NoReturn:
  """For a command's main: a full disk ends the process with one line on stderr and EXIT_NO_SPACE, instead of a
  traceback. os._exit, because Orbax's background writers would otherwise print their own copies of the error
  while the interpreter shuts down, burying that line."""
  message = out_of_space_message(exc)
  if message is None:
    return None
  print(f"error: {program}: {message}. Free space (or choose another --workdir) and rerun the same command: "
        f"it continues from the last complete checkpoint or sample.", file=sys.stderr, flush=True)
  sys.stdout.flush()
  os._exit(EXIT_NO_SPACE)
