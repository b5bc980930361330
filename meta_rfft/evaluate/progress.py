"""A dependency-free progress bar with rate and ETA (one rewritten line on a terminal, plain lines in logs)."""
from __future__ import annotations

import sys
import time


def _clock(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  h, rest = divmod(seconds, 3600)
  m, s = divmod(rest, 60)
  return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
  """`update(n)` after each unit of work; the ETA uses only the work done in this process (a resumed run's
  already-finished part is counted as done but not as speed)."""

  def __init__(self, total: int, done: int = 0, label: str = "eval", stream=None, log_every_s: float = 10.0):
    self.total, self.done, self.label = total, done, label
    self.stream = stream or sys.stderr
    self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
    self.start = time.monotonic()
    self.start_done = done
    self.log_every_s = log_every_s
    self._last_log = 0.0

  def line(self, note: str = "") -> str:
    elapsed = time.monotonic() - self.start
    new = self.done - self.start_done
    rate = new / elapsed if elapsed > 0 and new > 0 else 0.0
    eta = (self.total - self.done) / rate if rate > 0 else float("nan")
    frac = self.done / self.total if self.total else 1.0
    width = 24
    bar = "#" * int(frac * width) + "." * (width - int(frac * width))
    eta_text = _clock(eta) if eta == eta else "--:--"
    text = (f"{self.label} [{bar}] {self.done}/{self.total} {100 * frac:5.1f}% "
            f"{rate:.2f}/s elapsed {_clock(elapsed)} ETA {eta_text}")
    return text + (f" {note}" if note else "")

  def update(self, n: int, note: str = "") -> None:
    self.done += n
    now = time.monotonic()
    if self.tty:
      self.stream.write("\r" + self.line(note)[:160].ljust(160))
      if self.done >= self.total:
        self.stream.write("\n")
      self.stream.flush()
    elif now - self._last_log >= self.log_every_s or self.done >= self.total:
      self._last_log = now
      print(self.line(note), file=self.stream, flush=True)
