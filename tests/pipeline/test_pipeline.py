"""The main job end to end (configs/demo.py:tiny: a 2-layer model, a few steps per stage), then a rerun that
skips every finished stage."""
import json
import os

from meta_rfft.pipeline.__main__ import main


def test_pipeline_end_to_end_and_rerun(tmp_path, capsys):
  workdir = str(tmp_path / "demo")
  assert main(["--config=configs/demo.py:tiny", f"--workdir={workdir}"]) == 0
  out = capsys.readouterr().out
  for rel in ("report.md", "compare.md", "compare.png", "compare.json", "export_hf/model.safetensors",
              "export_hf/hf_check.json", "adapt_meta/eval/report.json", "adapt_vanilla/eval/report.json",
              "adapt_meta/eval/accuracy_vs_length.png", "base_ckpt/meta_rfft.json", "hf_base/tokenizer.json"):
    assert os.path.getsize(os.path.join(workdir, rel)) > 0, rel
  report = open(os.path.join(workdir, "report.md")).read()
  assert "| Meta-RFFT | rf | 1 |" in report and "| vanilla RFFT | rf | 1 |" in report
  assert "In-distribution accuracy" in report and "PASSED" in report
  check = json.load(open(os.path.join(workdir, "export_hf", "hf_check.json")))
  assert check["passed"] and check["tokens_compared"] > 0
  # Both adaptations really trained from their own starting points.
  for name, init in (("adapt_meta", "rf_pretrain"), ("adapt_vanilla", "base_ckpt")):
    run_cfg = json.load(open(os.path.join(workdir, name, "config.json")))["config"]
    assert run_cfg["init"]["checkpoint"] == os.path.join(workdir, init)
    assert run_cfg["data"]["mixture"] == "nupa_length_integer"
  samples = [json.loads(line) for line in open(os.path.join(workdir, "adapt_meta", "eval", "samples.jsonl"))]
  assert len(samples) == 1 + 3 * 2 and {s["length"] for s in samples[1:]} == {1, 2, 3}
  assert "in distribution: Meta-RFFT" in out

  assert main(["--config=configs/demo.py:tiny", f"--workdir={workdir}"]) == 0
  rerun = capsys.readouterr().out
  for stage in ("hf_base", "convert", "rf_pretrain", "adapt_meta", "adapt_vanilla", "eval_adapt_meta",
                "export_hf", "hf_check"):
    assert f"[pipeline] {stage}: already done" in rerun


def test_pipeline_rejects_bad_tasks(tmp_path, capsys):
  assert main(["--config=configs/demo.py:tiny", f"--workdir={tmp_path}",
               "--config.heldout_task=lc_344"]) == 2
  assert "config.heldout_task: task 'lc_344' is in split 'rf_pretrain', not 'heldout'" in capsys.readouterr().err
