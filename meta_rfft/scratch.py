"""A private temporary folder for each command, removed at exit and, when the process was killed, by the next command.

Libraries write temporary files that they delete only at a clean exit: TensorFlow's autograph writes one
`__autograph_generated_file*.py` per converted tf.data function and removes it in an atexit hook, which a SIGKILL
never runs; our own staging folders (an object-store metrics mirror, a data iterator's state) are the same. Pointing
`tempfile` at a folder of its own, held under an flock while the process lives, lets the next command remove what a
killed one left, and only that: a folder whose lock can be taken has no living owner, whatever its PID namespace.
"""
from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import tempfile
import time

BASE_NAME = "meta_rfft-scratch"
_LOCK = ".lock"
_GRACE_S = 600  # a folder this young without its lock file is still being set up by its owner

_held: dict[str, object] = {}


def use_private_tempdir() -> str:
  """Makes `tempfile` write into a new folder of this process (once per process) and returns it. Removes the
  folders of processes that ended without removing theirs."""
  if "folder" in _held:
    return _held["folder"]
  base = os.path.join(tempfile.gettempdir(), BASE_NAME)
  os.makedirs(base, exist_ok=True)
  reap(base)
  folder = tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=base)
  lock = open(os.path.join(folder, _LOCK), "w")  # pylint: disable=consider-using-with  (held for the process's life)
  fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
  _held.update(folder=folder, lock=lock)
  tempfile.tempdir = folder
  atexit.register(shutil.rmtree, folder, True)
  return folder


def reap(base: str) -> list[str]:
  """Removes the folders under `base` whose owner is gone; returns them."""
  removed = []
  for name in sorted(os.listdir(base)):
    folder = os.path.join(base, name)
    lock_path = os.path.join(folder, _LOCK)
    try:
      if not os.path.exists(lock_path):
        if time.time() - os.path.getmtime(folder) > _GRACE_S:
          shutil.rmtree(folder, ignore_errors=True)
          removed.append(folder)
        continue
      with open(lock_path) as lock:
        try:
          fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
          continue  # its owner is alive
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    except FileNotFoundError:  # another command reaped it first
      continue
  return removed
