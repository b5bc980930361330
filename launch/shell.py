"""Running (or, with --dry-run, printing) the launcher's commands; streaming output into a local log file."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from typing import Sequence, TextIO


class Shell:
  """Every external command of the launchers goes through here, so --dry-run shows exactly what would run."""

  def __init__(self, dry_run: bool, out: TextIO = sys.stdout):
    self.dry_run = dry_run
    self.out = out

  def note(self, text: str) -> None:
    for line in text.splitlines():
      print(f"# {line}", file=self.out, flush=True)

  def _show(self, argv: Sequence[str]) -> None:
    print(shlex.join(argv), file=self.out, flush=True)

  def run(self, argv: Sequence[str], check: bool = True) -> int:
    self._show(argv)
    if self.dry_run:
      return 0
    code = subprocess.call(list(argv))
    if check and code != 0:
      raise SystemExit(f"error: command failed with exit code {code}: {shlex.join(argv)}")
    return code

  def capture(self, argv: Sequence[str]) -> tuple[int, str]:
    """Runs a query and returns (exit code, stdout); in a dry run it is printed and answers (0, '')."""
    self._show(argv)
    if self.dry_run:
      return 0, ""
    done = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0 and done.stderr:
      print(done.stderr.rstrip(), file=sys.stderr)
    return done.returncode, done.stdout.strip()

  def stream(self, argv: Sequence[str], log_path: str) -> int:
    """Runs the command, copying its output line by line to our stdout and to `log_path`."""
    self._show(argv)
    if self.dry_run:
      return 0
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    with open(log_path, "a") as log, subprocess.Popen(
        list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
      try:
        for line in proc.stdout:
          sys.stdout.write(line)
          log.write(line)
          log.flush()
      except KeyboardInterrupt:
        proc.terminate()
        raise
      return proc.wait()


def env_pairs(items: Sequence[str]) -> list[tuple[str, str]]:
  """The launchers' repeatable `--env KEY=VALUE` flags as (key, value) pairs; a malformed one stops the launch."""
  pairs = []
  for item in items:
    key, eq, value = item.partition("=")
    if not eq or not key.isidentifier():
      raise SystemExit(f"error: --env {item!r} must be KEY=VALUE with KEY a valid variable name")
    pairs.append((key, value))
  return pairs
