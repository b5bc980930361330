"""Per-step metrics: the FLOP formula behind MFU, peak FLOP/s by device kind, and where metrics are written
(TensorBoard event files, WORKDIR/metrics.jsonl, a progress bar on a terminal or log lines otherwise).
"""
from __future__ import annotations

import json
import math
import os
import time
from typing import Any, Mapping, TextIO

import jax
from tensorboardX import SummaryWriter

from meta_rfft import io_paths, layouts
from meta_rfft.progress_bar import ProgressBar
from meta_rfft.model.config import ModelConfig

# Dense bf16 peak FLOP/s per device (vendor datasheets; no sparsity). Matched by substring of device_kind.
# CPUs are left out on purpose: they have no datasheet peak, and an MFU against a made-up one would mislead.
PEAK_FLOPS = (
    ("H200", 989e12), ("H100", 989e12), ("A100", 312e12), ("L4", 121e12), ("A10", 125e12),
    ("TPU v6", 918e12), ("TPU v5p", 459e12), ("TPU v5 lite", 197e12), ("TPU v5e", 197e12),
    ("TPU v4", 275e12), ("TPU v3", 123e12),
)


def device_peak_flops(device: jax.Device) -> float | None:
  """Peak FLOP/s of one device from PEAK_FLOPS; None where none is known (CPUs, devices not in the table)."""
  kind = (getattr(device, "device_kind", "") or "").lower()
  return next((flops for name, flops in PEAK_FLOPS if name.lower() in kind), None)


def mfu(flops_per_token: float, tokens_per_s: float, peak_per_device: float | None,
        num_devices: int) -> float | None:
  """Model FLOPs utilisation of `num_devices` devices; None without a known peak."""
  if peak_per_device is None:
    return None
  return flops_per_token * tokens_per_s / (peak_per_device * num_devices)


def matmul_params(cfg: ModelConfig) -> int:
  """Parameters used in matmuls per token: every layer's projections plus the LM head (tied or not); the
  embedding lookup is a gather and costs no FLOPs."""
  a = cfg.arch
  lookup = 0 if a.tie_word_embeddings else a.vocab_size * a.hidden_size  # tied: the table IS the head
  return a.num_params - a.norm_params - lookup


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
  attention = 12 * cfg.arch.num_layers * cfg.arch.num_heads * cfg.arch.head_dim * seq_len
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
    layout = layouts.Workdir.at(workdir)
    target = layout.metrics
    self.path = os.fspath(target)
    if not self.enabled:
      return
    self.mirror = io_paths.LocalMirror(workdir)  # holds the same names as WORKDIR, uploaded there by sync()
    local = os.path.join(self.mirror.local, target.name)
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
    self.tb = SummaryWriter(os.path.join(self.mirror.local, layout.tensorboard.name),
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


def _plain(v: Any) -> Any:
  if hasattr(v, "item"):
    v = v.item()
  # JSON has no NaN or Infinity (json.dumps would write them, strict readers such as jq reject them): a value
  # that is not a number, like the MFU of a device with no known peak, is written as null.
  if isinstance(v, float) and not math.isfinite(v):
    return None
  return v


class Progress(ProgressBar):
  """The trainer's bar: step, ETA and the headline scalars; a plain line every `every` steps (and at the last
  step) when not on a terminal."""

  def __init__(self, start: int, total: int, every: int, stream: TextIO | None = None):
    super().__init__(total, start, log_every=max(1, every), stream=stream)

  def update(self, step: int, scalars: Mapping[str, float | None]) -> None:
    self.done = step
    shown = {k: scalars.get(k) for k in ("loss", "grad_norm", "tokens_per_s", "mfu")}
    # A value that is absent or not a number (no MFU without a known peak FLOP/s) is left out, not shown.
    fields = " ".join(f"{k}={v:.4g}" for k, v in shown.items() if v is not None and math.isfinite(v))
    eta = self.eta()
    eta_text = "?" if math.isnan(eta) else time.strftime("%H:%M:%S", time.gmtime(eta))
    self.show(f"[{self.bar(30)}] {step}/{self.total} eta {eta_text} {fields}",
              f"step {step}/{self.total} {fields} eta={eta_text}")
