"""The progress bar the trainer and the evaluator share: counting, rate, ETA and where the line goes.

On a terminal one line is rewritten in place and ended when the work is done; elsewhere (logs, batch jobs) a
plain line is printed whenever the caller's cadence says so, and at the end. Only process 0 reports: every
process of a multi-host run does the same work in step, and one line per host would repeat it.

The bar is drawn by hand rather than with tqdm: TFDS, imported with the data pipeline, silences tqdm
process-wide.
Each caller words its own line (meta_rfft/train/metrics.py, meta_rfft/evaluate/progress.py).
"""
from __future__ import annotations

import math
import sys
import time
from typing import TextIO

import jax


class ProgressBar:
  """`done` out of `total` units of work.

  The rate and ETA count only the work done since this object was made: a resumed run's finished part counts
  as done but says nothing about speed. Plain lines are printed every `log_every` units (when `done` is a
  multiple of it) and/or every `log_every_s` seconds (the first report included); 0 turns either off.
  """

  def __init__(self, total: int, done: int = 0, *, log_every: int = 0, log_every_s: float = 0.0,
               stream: TextIO | None = None):
    self.total, self.done = total, done
    self.stream = stream or sys.stderr
    self.enabled = jax.process_index() == 0
    self.tty = self.enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
    self.log_every, self.log_every_s = log_every, log_every_s
    self._start, self._start_done = time.monotonic(), done
    self._last_log: float | None = None
    self._drawn = False

  def elapsed(self) -> float:
    return time.monotonic() - self._start

  def rate(self) -> float:
    """Units per second since this object was made; 0 before any."""
    elapsed, new = self.elapsed(), self.done - self._start_done
    return new / elapsed if elapsed > 0 and new > 0 else 0.0

  def eta(self) -> float:
    """Seconds left at the rate so far; NaN until there is a rate."""
    rate = self.rate()
    return (self.total - self.done) / rate if rate > 0 else math.nan

  def bar(self, width: int) -> str:
    filled = width if self.total <= 0 else min(width, int(width * self.done / self.total))
    return "#" * filled + "." * (width - filled)

  def show(self, terminal: str, log: str | None = None) -> None:
    """Reports the current `done`: `terminal` as the rewritten line, `log` (default: the same) as a plain
    line."""
    if not self.enabled:
      return
    finished = self.done >= self.total
    if self.tty:
      self.stream.write(f"\r{terminal}\x1b[K")
      self._drawn = not finished
      if finished:
        self.stream.write("\n")
      self.stream.flush()
    elif finished or self._due():
      print(terminal if log is None else log, file=self.stream, flush=True)

  def _due(self) -> bool:
    if self.log_every and self.done % self.log_every == 0:
      return True
    now = time.monotonic()
    if self.log_every_s and (self._last_log is None or now - self._last_log >= self.log_every_s):
      self._last_log = now
      return True
    return False

  def message(self, text: str) -> None:
    """A line of its own, below the bar (whose line is ended first)."""
    if not self.enabled:
      return
    self.close()
    print(text, file=self.stream, flush=True)

  def close(self) -> None:
    if self._drawn:
      self.stream.write("\n")
      self.stream.flush()
      self._drawn = False
