"""Evaluation on several hosts: process 0 owns the files, every process runs the same decoding programs.

Decoding is SPMD: every process must call the jitted programs with the same batches in the same order, so the
work list (seeded, identical everywhere) and the set of already-finished samples must agree on every host.
Only process 0 reads and writes RUN/eval/ (hosts need not share a filesystem); what it learns (the finished
samples) and whether its file work failed are broadcast to the others. A failure of process 0 then stops every
process with a clear error at the same point, instead of leaving the others blocked in the next collective
until the distributed runtime's heartbeat or shutdown timeout kills them.

With one process every function here is a plain local call.
"""
from __future__ import annotations

import json
from typing import Any, Callable, TypeVar

import jax
import numpy as np
from jax.experimental import multihost_utils

from meta_rfft import cli

T = TypeVar("T")
# Bytes of process 0's error message sent to the others (the rest is cut; process 0's own log has it all).
_MESSAGE_BYTES = 2048


class LeaderFailed(cli.UserFacing):
  """Raised on processes 1..N-1 when process 0 failed at a step all processes take together."""


def is_leader() -> bool:
  return jax.process_index() == 0


def _broadcast(tree):
  return multihost_utils.broadcast_one_to_all(tree)


def on_leader(fn: Callable[[], T], what: str) -> T | None:
  """Runs `fn` on process 0 only; every process then learns whether it succeeded.

  Returns fn's result on process 0 and None elsewhere. If fn raises on process 0, process 0 re-raises it and
  every other process raises LeaderFailed with its message (naming `what`), all at this same call.
  """
  result, error = None, None
  if is_leader():
    try:
      result = fn()
    except Exception as e:  # pylint: disable=broad-except  (re-raised below, after the others are told)
      error = e
  if jax.process_count() > 1:
    message = np.zeros((_MESSAGE_BYTES,), np.int32)
    if error is not None:
      text = (f"{type(error).__name__}: {error}".encode("utf-8") or b"?")[:_MESSAGE_BYTES]
      message[:len(text)] = np.frombuffer(text, np.uint8)
    message = np.asarray(_broadcast(message))
    if error is None and message.any():
      text = bytes(message[message > 0].astype(np.uint8)).decode("utf-8", errors="replace")
      raise LeaderFailed(f"process 0 failed while {what} ({text}); see process 0's log")
  if error is not None:
    raise error
  return result


def finished_mask(fn: Callable[[], np.ndarray], n: int, what: str) -> np.ndarray:
  """A bool [n] mask computed by `fn` on process 0 (e.g. from its samples.jsonl), the same on every
  process."""
  def leader_mask() -> np.ndarray:
    mask = np.asarray(fn(), bool)
    if mask.shape != (n,):
      raise ValueError(f"{what}: expected a mask of {n} entries, got shape {mask.shape}")
    return mask
  mask = on_leader(leader_mask, what)
  if jax.process_count() == 1 or n == 0:  # n is the same everywhere (the work list is)
    return mask if mask is not None else np.zeros((n,), bool)
  local = mask.astype(np.int32) if mask is not None else np.zeros((n,), np.int32)
  return np.asarray(_broadcast(local)).astype(bool)



def share_json(fn: Callable[[], Any], what: str) -> Any:
  """A JSON-serialisable value computed by `fn` on process 0 (e.g. from its files), the same on every process:
  every process, process 0 included, gets it back from its JSON text (tuples as lists, keys as strings)."""
  text = on_leader(lambda: json.dumps(fn()), what)
  if jax.process_count() > 1:
    data = np.frombuffer(text.encode("utf-8"), np.uint8) if is_leader() else np.zeros((0,), np.uint8)
    size = int(np.asarray(_broadcast(np.asarray([len(data)], np.int32)))[0])
    buf = np.zeros((size,), np.int32)
    if is_leader():
      buf[:] = data
    text = bytes(np.asarray(_broadcast(buf)).astype(np.uint8)).decode("utf-8")
  return json.loads(text)
