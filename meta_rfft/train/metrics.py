"""Per-step metrics: the FLOP formula behind MFU, peak FLOP/s by device kind, and where metrics are written
(TensorBoard event files, WORKDIR/metrics.jsonl, a progress bar on a terminal or log lines otherwise).
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Mapping

import jax

from meta_rfft import io_paths
from meta_rfft.model.config import ModelConfig

# Dense bf16 peak FLOP/s per device (vendor datasheets; no sparsity). Matched by substring of device_kind.
PEAK_FLOPS = (
    ("H200", 989e12), ("H100", 989e12), ("A100", 312e12), ("L4", 121e12), ("A10", 125e12),
    ("TPU v6", 918e12), ("TPU v5p", 459e12), ("TPU v5 lite", 197e12), ("TPU v5e", 197e12),
    ("TPU v4", 275e12), ("TPU v3", 123e12),
)
# A CPU has no meaningful datasheet peak: this NOMINAL figure (a few AVX-512 cores' worth) only makes the MFU
# column non-empty on CPU runs; it is labelled as such in the metrics ("peak_flops_nominal": true).
CPU_NOMINAL_PEAK_FLOPS = 1e11


def peak_flops(device: jax.Device) -> tuple[float, bool]:
  """(peak FLOP/s of one device, whether the figure is nominal rather than a datasheet value)."""
  kind = getattr(device, "device_kind", "") or ""
  for name, flops in PEAK_FLOPS:
    if name.lower() in kind.lower():
      return flops, False
  return CPU_NOMINAL_PEAK_FLOPS, True


def matmul_params(cfg: ModelConfig) -> int:
  """Parameters used in matmuls per token: every layer's projections plus the LM head (tied or not); the
  embedding lookup is a gather and costs no FLOPs."""
  norms = cfg.hidden_size * (2 * cfg.num_layers + 1)
  lookup = 0 if cfg.tie_word_embeddings else cfg.vocab_size * cfg.hidden_size  # tied: the table IS the head
  return cfg.num_params - norms - lookup


def train_flops_per_token(cfg: ModelConfig, seq_len: int, trainable_fraction: float = 1.0) -> float:
  """Model FLOPs to train on one token, written down:

    weights:   forward 2*N, backward 2*N for activation gradients + 2*N_trainable for weight gradients
               -> (4 + 2 * trainable_fraction) * N; full fine-tuning gives the usual 6*N.
    attention: per layer and token, Q.K^T and P.V each cost 2 * seq_len * heads * head_dim forward, x3 with the
               backward -> 12 * layers * heads * head_dim * seq_len (the full L x L product is computed and
               masked, so no causal halving).
  N = matmul_params(cfg). Adapter matmuls (rank r) are left out: under 1% for the ranks used.
  """
  n = matmul_params(cfg)
  attention = 12 * cfg.num_layers * cfg.num_heads * cfg.head_dim * seq_len
  return (4 + 2 * trainable_fraction) * n + attention


class MetricsWriter:
  """metrics.jsonl (one object per step, `step` and `loss` among its keys) and TensorBoard, process 0 only.

  An object store (WORKDIR gs://...) cannot append, and rewriting metrics.jsonl at every step would cost one
  upload of the whole file per step. So there both files are written to a local folder and uploaded by
  `sync()` (the trainer calls it after every checkpoint save) and `close()`: after a crash the object store
  holds the metrics up to the last checkpoint, which is where the resumed run continues from anyway. The same
  holds for TensorBoard: tensorboardX's own gs:// writer needs google-cloud-storage and re-uploads the whole
  event file on every flush, so its events go through the same local folder.

  TensorBoard's writer buffers events in memory (up to its flush interval), so `sync()` flushes it on local
  disk too: a run killed at any moment leaves TensorBoard every step up to its last checkpoint. A resumed run
  writes a purge marker at its first step, so TensorBoard drops the killed run's steps after the checkpoint
  instead of showing two curves there.
  """

  def __init__(self, workdir: str, *, resume_step: int | None):
    self.enabled = jax.process_index() == 0
    target = io_paths.resolve(workdir) / "metrics.jsonl"
    self.path = os.fspath(target)
    if not self.enabled:
      return
    self.mirror = io_paths.LocalMirror(workdir)
    local = os.path.join(self.mirror.local, "metrics.jsonl")
    kept = None
    if resume_step is not None and target.exists():
      # Steps after the restored checkpoint were lost with the killed run: drop them so the file is one curve.
      lines = target.read_text().splitlines(keepends=True)
      kept = [line for line in lines if line.strip() and json.loads(line).get("step", 0) <= resume_step]
    elif resume_step is None and target.exists():
      target.unlink()
    if kept is not None:
      io_paths.write_text(local, "".join(kept))
    self.jsonl = open(local, "a")
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    self.tb = SummaryWriter(os.path.join(self.mirror.local, "tensorboard"),
                            purge_step=None if resume_step is None else int(resume_step) + 1)

  def write(self, step: int, scalars: Mapping[str, float]) -> None:
    if not self.enabled:
      return
    record = {"step": int(step), **{k: _plain(v) for k, v in scalars.items()}}
    self.jsonl.write(json.dumps(record) + "\n")
    self.jsonl.flush()
    for k, v in record.items():
      if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        self.tb.add_scalar(k, v, step)

  def sync(self) -> None:
    """Flushes the metrics written so far to disk, and uploads them when WORKDIR is an object store."""
    if not self.enabled:
      return
    self.jsonl.flush()
    self.tb.flush()
    if self.mirror.remote:
      self.mirror.sync()

  def close(self) -> None:
    if self.enabled:
      self.jsonl.close()
      self.tb.close()
      self.mirror.close()


def _plain(v):
  if hasattr(v, "item"):
    v = v.item()
  return v


class Progress:
  """A one-line progress bar with ETA on a terminal; otherwise a plain line every `every` steps (and at the
  last step). The bar is drawn by hand: TFDS, imported with the data pipeline, silences tqdm process-wide."""

  def __init__(self, start: int, total: int, every: int, stream=None):
    self.stream = stream or sys.stderr
    self.total, self.every = total, max(1, every)
    self.tty = self.stream.isatty() and jax.process_index() == 0
    self.t0, self.s0 = time.time(), start
    self.drawn = False

  def _eta(self, step: int) -> float:
    done = step - self.s0
    return (time.time() - self.t0) / done * (self.total - step) if done > 0 else float("nan")

  def update(self, step: int, scalars: Mapping[str, float]) -> None:
    if jax.process_index() != 0:
      return
    short = {k: scalars[k] for k in ("loss", "grad_norm", "tokens_per_s", "mfu") if k in scalars}
    fields = " ".join(f"{k}={v:.4g}" for k, v in short.items())
    eta = self._eta(step)
    eta_text = "?" if math.isnan(eta) else time.strftime("%H:%M:%S", time.gmtime(eta))
    if self.tty:
      width = 30
      filled = int(width * step / max(1, self.total))
      bar = "#" * filled + "." * (width - filled)
      self.stream.write(f"\r[{bar}] {step}/{self.total} eta {eta_text} {fields}\x1b[K")
      self.stream.flush()
      self.drawn = True
    elif step % self.every == 0 or step == self.total:
      print(f"step {step}/{self.total} {fields} eta={eta_text}", file=self.stream, flush=True)

  def message(self, text: str) -> None:
    if jax.process_index() != 0:
      return
    if self.drawn:  # finish the bar's line first
      self.stream.write("\n")
      self.drawn = False
    print(text, file=self.stream, flush=True)

  def close(self) -> None:
    if self.drawn:
      self.stream.write("\n")
      self.stream.flush()
      self.drawn = False
