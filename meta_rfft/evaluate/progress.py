"""The evaluator's progress line: samples done, percent, rate, elapsed time and ETA (in logs, a plain line
every `log_every_s` seconds).

The counting, terminal and log handling are meta_rfft/progress_bar.py's, shared with the trainer.
"""
from __future__ import annotations

import math
from typing import TextIO

from meta_rfft.progress_bar import ProgressBar


def _clock(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  h, rest = divmod(seconds, 3600)
  m, s = divmod(rest, 60)
  return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress(ProgressBar):
  """`update(n)` after each `n` samples scored."""

  def __init__(self, total: int, done: int = 0, label: str = "eval", stream: TextIO | None = None,
               log_every_s: float = 10.0):
    super().__init__(total, done, log_every_s=log_every_s, stream=stream)
    self.label = label

  def line(self, note: str = "") -> str:
    frac = self.done / self.total if self.total else 1.0
    eta = self.eta()
    eta_text = "--:--" if math.isnan(eta) else _clock(eta)
    text = (f"{self.label} [{self.bar(24)}] {self.done}/{self.total} {100 * frac:5.1f}% "
            f"{self.rate():.2f}/s elapsed {_clock(self.elapsed())} ETA {eta_text}")
    return text + (f" {note}" if note else "")

  def update(self, n: int, note: str = "") -> None:
    self.done += n
    self.show(self.line(note))
