"""MFU only against a known peak: a TPU/GPU from the table has one, a CPU has none, and metrics.jsonl then
holds null rather than a made-up figure."""
import json
import math
import types

import jax

from meta_rfft.train import metrics


def test_peak_flops_only_for_devices_in_the_table():
  assert metrics.device_peak_flops(types.SimpleNamespace(device_kind="TPU v5 lite")) == 197e12
  assert metrics.device_peak_flops(jax.devices("cpu")[0]) is None
  assert metrics.mfu(6.0, 1e12, None, 8) is None
  assert metrics.mfu(6.0, 1e12, 197e12, 8) == 6.0 * 1e12 / (197e12 * 8)


def test_metrics_jsonl_writes_a_missing_mfu_as_null(tmp_path):
  writer = metrics.MetricsWriter(str(tmp_path), resume_step=None)
  writer.write(1, {"loss": 2.5, "mfu": math.nan})
  writer.write(2, {"loss": 2.0, "mfu": 0.4})
  writer.write(3, {"loss": 1.5, "mfu": metrics.mfu(6.0, 1e3, None, 1)})
  writer.close()
  rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert rows == [{"step": 1, "loss": 2.5, "mfu": None}, {"step": 2, "loss": 2.0, "mfu": 0.4},
                  {"step": 3, "loss": 1.5, "mfu": None}]
