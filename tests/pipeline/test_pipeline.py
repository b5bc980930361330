"""The pipeline end to end: the experiment (configs/lengthgen.py:tiny: a 2-layer model, a few steps per stage, two
seeds, all three arms, a recall-trained base; one held-out task here, since the summary's mean over tasks is
tests/pipeline/test_stages.py's), then a rerun that skips every finished stage; the report's numbers against the
runs' own reports. The demo's config, which adapts shipped models: tests/pipeline/test_shipped_models.py."""
import json
import os

import numpy as np
import pytest

from meta_rfft.pipeline.__main__ import main

pytestmark = pytest.mark.heavy  # started first: see tests/conftest.py

TINY = ["--config=configs/lengthgen.py:tiny", "--config.base_pretrain.steps=2", "--config.base_pretrain.warmup_steps=1",
        "--config.base_pretrain.seq_len=256", "--config.data.recall_max_length=4", "--config.heldout_tasks=lc_283"]


def test_pipeline_end_to_end_and_rerun(tmp_path, capsys):
  workdir = str(tmp_path / "demo")
  assert main([*TINY, f"--workdir={workdir}"]) == 0
  out = capsys.readouterr().out
  for rel in ("report.md", "report.json", "accuracy_vs_length.png", "export_hf/model.safetensors",
              "export_hf/hf_check.json", "tokenizer/tokenizer.json", "seed_1/hf_base/config.json",
              "seed_0/base_ckpt/meta_rfft.json", "seed_1/rf_pretrain_short/config.json",
              "seed_0/lc_283/control/eval/report.json",
              "seed_1/lc_283/meta/eval/accuracy_vs_length.png"):
    assert os.path.getsize(os.path.join(workdir, rel)) > 0, rel
  report = open(os.path.join(workdir, "report.md")).read()
  for label in ("Meta-RFFT", "vanilla RFFT", "short-pretraining control"):
    assert f"| lc_283 | {label} |" in report
  assert "PASSED" in report and "CPU" in report
  check = json.load(open(os.path.join(workdir, "export_hf", "hf_check.json")))
  assert check["passed"] and check["tokens_compared"] > 0

  # Every arm of every seed trained from its own starting point, on its own seed.
  for seed in (0, 1):
    for arm, init in (("meta", "rf_pretrain"), ("vanilla", "base_recall"), ("control", "rf_pretrain_short")):
      run_cfg = json.load(open(os.path.join(workdir, f"seed_{seed}", "lc_283", arm,
                                            "config.json")))["config"]
      assert run_cfg["init"]["checkpoint"] == os.path.join(workdir, f"seed_{seed}", init)
      assert run_cfg["data"]["mixture"] == "lc_283" and run_cfg["data"]["seed"] == seed
    short = json.load(open(os.path.join(workdir, f"seed_{seed}", "rf_pretrain_short", "config.json")))["config"]
    assert short["data"]["build"]["splits"]["train"]["rf_pretrain"]["lengths"] == "1-2"
    long = json.load(open(os.path.join(workdir, f"seed_{seed}", "rf_pretrain", "config.json")))["config"]
    assert long["data"]["build"]["splits"]["train"]["rf_pretrain"]["lengths"] == "1-3"
    assert long["data"]["mixture"] == "lc_2057,lc_268"
    assert short["init"]["checkpoint"] == os.path.join(workdir, f"seed_{seed}", "base_recall")
    base = json.load(open(os.path.join(workdir, f"seed_{seed}", "base_recall", "config.json")))["config"]
    assert base["train"]["data_source"] == "recall" and base["init"]["checkpoint"].endswith("base_ckpt")
  # The two seeds' base models differ (one initialisation per seed).
  configs = [json.load(open(os.path.join(workdir, f"seed_{s}", "hf_base", "config.json"))) for s in (0, 1)]
  assert configs[0] == configs[1]
  sizes = [os.path.getsize(os.path.join(workdir, f"seed_{s}", "hf_base", "model.safetensors")) for s in (0, 1)]
  assert sizes[0] == sizes[1]
  assert (open(os.path.join(workdir, "seed_0", "hf_base", "model.safetensors"), "rb").read()
          != open(os.path.join(workdir, "seed_1", "hf_base", "model.safetensors"), "rb").read())

  # The report's Max_Len_90% and curves are those of the runs' own evaluation reports.
  rep = json.load(open(os.path.join(workdir, "report.json")))
  for arm in ("meta", "vanilla", "control"):
    per_seed = [json.load(open(os.path.join(workdir, f"seed_{s}", "lc_283", arm, "eval",
                                            "report.json")))["formats"]["rf_index"]["tasks"]["lc_283"]
                for s in (0, 1)]
    block = rep["summary"]["tasks"]["lc_283"][arm]
    assert block["max_len_90"]["values"] == [float(r["max_len_90"]) for r in per_seed]
    for n in (1, 2, 3):
      accs = [r["lengths"][str(n)]["accuracy"] for r in per_seed]
      assert np.isclose(block["accuracy"][str(n)]["mean"], np.mean(accs))
      assert block["accuracy"][str(n)]["min"] == min(accs)
    assert rep["cpu_seconds"][arm]["adapt"] > 0 and rep["cpu_seconds"][arm]["eval"] > 0
  assert rep["cpu_seconds"]["vanilla"]["pretrain"] == 0 and rep["cpu_seconds"]["control"]["pretrain"] > 0
  assert rep["cpu_seconds"]["vanilla"]["base"] > 0
  for arm in ("meta", "vanilla", "control"):  # the arm's mean over seeds
    values = rep["summary"]["tasks"]["lc_283"][arm]["max_len_90"]["values"]
    assert np.isclose(rep["summary"]["arms"][arm]["max_len_90_mean"], np.mean(values))
  assert list(rep["summary"]["tasks"]) == ["lc_283"]
  samples = [json.loads(line) for line in open(os.path.join(workdir, "seed_0", "lc_283", "meta",
                                                            "eval", "samples.jsonl"))]
  assert len(samples) == 1 + 3 * 2 and {s["length"] for s in samples[1:]} == {1, 2, 3}
  assert "| lc_283 | Meta-RFFT |" in out

  assert main([*TINY, f"--workdir={workdir}"]) == 0
  rerun = capsys.readouterr().out
  for stage in ("tokenizer", "seed_0/hf_base", "seed_1/convert", "seed_1/base_recall", "seed_0/rf_pretrain",
                "seed_1/rf_pretrain_short", "seed_1/lc_283/control", "seed_0/lc_283/meta/eval", "export_hf",
                "hf_check"):
    assert f"[pipeline] {stage}: already done" in rerun


def test_pipeline_rejects_bad_config(tmp_path, capsys):
  for overrides, message in (
      (["--config.heldout_tasks=lc_344"],
       "config.heldout_tasks: task 'lc_344' is in split 'rf_pretrain', not 'heldout'"),
      (["--config.pretrain_tasks=lc_258"], "config.pretrain_tasks: task 'lc_258' is in split 'heldout'"),
      (["--config.arms=meta,scratch"], "config.arms='meta,scratch': choose among"),
      (["--config.seeds=0,x"], "config.seeds='0,x': 'x' is not an integer"),
      (["--config.format=rff"], "config.format='rff' unknown"),
      (["--config.data.positions=random"], "config.data.positions='random' needs config.data.position_range"),
      (["--config.arms=meta,control", "--config.data.control_lengths=1-1"],
       "config.data.control_lengths='1-1': task 'lc_268' has no instance at these lengths (its lengths start at 2)")):
    assert main(["--config=configs/lengthgen.py:tiny", f"--workdir={tmp_path}", *overrides]) == 2
    assert message in capsys.readouterr().err
  assert not os.listdir(tmp_path)  # nothing written for a config that fails its checks
