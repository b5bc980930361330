"""How the evaluation commands end on an input they cannot use: one line naming it, exit status 2."""
from __future__ import annotations

import sys
from typing import Callable, TypeVar

from meta_rfft import io_paths
from meta_rfft.evaluate.hosts import LeaderFailed

T = TypeVar("T")
# What a user can fix from the message: a config key, a file, a run (LeaderFailed: process 0 hit one of these).
USER_ERRORS = (ValueError, FileNotFoundError, LeaderFailed)


def run_or_report(fn: Callable[[], T], prog: str) -> tuple[T | None, int]:
  """(fn's result, 0); or (None, 2) after printing `error: ...` when fn raised one of USER_ERRORS. A full disk
  exits with its own message; anything else is re-raised."""
  try:
    return fn(), 0
  except Exception as e:  # pylint: disable=broad-except  (re-raised unless it names what the user can fix)
    io_paths.exit_if_out_of_space(e, prog)
    if not isinstance(e, USER_ERRORS):
      raise
    print(f"error: {e}", file=sys.stderr)
    return None, 2
