"""Running (or, with --dry-run, printing) the launcher's commands; streaming output into a local log file."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
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

  def run_all(self, argvs: Sequence[Sequence[str]], check: bool = True) -> list[int]:
    """Runs the commands side by side (one per TPU slice) and returns their exit codes; one command is just
    `run`."""
    if len(argvs) == 1:
      return [self.run(argvs[0], check)]
    for argv in argvs:
      self._show(argv)
    if self.dry_run:
      return [0] * len(argvs)
    procs = [subprocess.Popen(list(argv)) for argv in argvs]
    codes = [p.wait() for p in procs]
    for argv, code in zip(argvs, codes):
      if check and code != 0:
        raise SystemExit(f"error: command failed with exit code {code}: {shlex.join(argv)}")
    return codes

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

  def stream_all(self, argvs: Sequence[Sequence[str]], labels: Sequence[str], log_path: str) -> list[int]:
    """`stream` for several commands at once (one per TPU slice): every line goes to our stdout and to
    `log_path` prefixed with its command's label; returns the exit codes. One command is exactly `stream`."""
    if len(argvs) == 1:
      return [self.stream(argvs[0], log_path)]
    for argv in argvs:
      self._show(argv)
    if self.dry_run:
      return [0] * len(argvs)
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    lock = threading.Lock()
    with open(log_path, "a") as log:
      procs = [subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                bufsize=1) for argv in argvs]

      def pump(proc: subprocess.Popen, label: str) -> None:
        for line in proc.stdout:
          with lock:  # whole lines, never two slices' output mixed within one
            sys.stdout.write(f"[{label}] {line}")
            log.write(f"[{label}] {line}")
            log.flush()

      threads = [threading.Thread(target=pump, args=(p, label), daemon=True)
                 for p, label in zip(procs, labels)]
      for t in threads:
        t.start()
      try:
        codes = [p.wait() for p in procs]
      except KeyboardInterrupt:
        for p in procs:
          p.terminate()
        raise
      for t in threads:
        t.join()
    return codes


def env_pairs(items: Sequence[str]) -> list[tuple[str, str]]:
  """The launchers' repeatable `--env KEY=VALUE` flags as (key, value) pairs; a malformed one stops the launch."""
  pairs = []
  for item in items:
    key, eq, value = item.partition("=")
    if not eq or not key.isidentifier():
      raise SystemExit(f"error: --env {item!r} must be KEY=VALUE with KEY a valid variable name")
    pairs.append((key, value))
  return pairs
