"""How every `python -m meta_rfft.*` command ends: one error policy, its exit codes and the scratch folder.

- An error the user can fix from its message (a ValueError, which every named input error and ConfigError are;
  a missing file or folder; a UserFacing error such as another process's) prints `error: <message>` on stderr,
  one line, and exits EXIT_BAD_INPUT. The messages name the config key, file, task or tensor at fault.
- A full disk prints its own line and exits io_paths' code (74), from wherever it was met.
- SystemExit passes through (SIGTERM's 143 among them); anything else is a bug and keeps its traceback.
- `entry(main)` ends each module's `if __name__ == "__main__":` block: the command's private scratch folder
  (meta_rfft/scratch.py), then `sys.exit(main(argv))`.
"""
from __future__ import annotations

import sys
from typing import Callable, Sequence, TypeVar

from meta_rfft import io_paths, scratch

T = TypeVar("T")
EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class UserFacing(Exception):
  """An error whose message is for the user as it stands (e.g. raised on processes 1..N-1 when process 0 met a
  bad input): reported like a ValueError."""


USER_ERRORS = (ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError, UserFacing)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
  """Prints `error: message` on stderr; returns `code` for main to return."""
  print(f"error: {message}", file=sys.stderr, flush=True)
  return code


def run_or_report(fn: Callable[[], T], prog: str) -> tuple[T | None, int]:
  """(fn's result, 0); or (None, EXIT_BAD_INPUT) after one `error:` line when fn raised one of USER_ERRORS. A full
  disk exits with its own message; anything else is re-raised."""
  try:
    return fn(), EXIT_OK
  except Exception as e:  # pylint: disable=broad-except  (re-raised unless it names what the user can fix)
    io_paths.exit_if_out_of_space(e, prog)
    if not isinstance(e, USER_ERRORS):
      raise
    return None, fail(str(e))


def entry(main: Callable[[Sequence[str]], int | None]) -> None:
  """Runs a command's main on the command line's arguments in its own scratch folder and exits with its code."""
  scratch.use_private_tempdir()
  sys.exit(main(sys.argv[1:]) or EXIT_OK)
