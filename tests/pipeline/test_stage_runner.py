"""The pipeline's stage runner: a finished stage is skipped only when it ran with this run's settings and read
stages that did; otherwise the rerun stops naming the stage and keys, or (rerun_changed) clears and reruns it."""
import os

import numpy as np
import pytest

from meta_rfft.pipeline.stage_runner import StageChanged, StageRunner


def test_records_times_and_skips_a_finished_stage_with_the_same_settings(tmp_path):
  logs = []
  runner = StageRunner(str(tmp_path / "stages"), root=str(tmp_path), log=logs.append)
  calls = []
  work = lambda: calls.append(1) or float(np.sum(np.random.default_rng(0).normal(size=200_000) ** 2))  # noqa: E731
  first = runner.run("seed_0/lc_283/meta", work, settings={"steps": 3, "out": str(tmp_path / "a")})
  assert runner.run("seed_0/lc_283/meta", work, settings={"steps": 3, "out": str(tmp_path / "a")}) == first
  assert len(calls) == 1
  rec = runner.records()["seed_0/lc_283/meta"]
  assert rec["seconds"] > 0 and rec["cpu_seconds"] > 0
  assert any("already done" in line for line in logs)
  # Paths under DIR are recorded relative to it: the same stages in a moved DIR still match.
  moved = tmp_path.parent / (tmp_path.name + "_moved")
  os.rename(tmp_path, moved)
  again = StageRunner(str(moved / "stages"), root=str(moved), log=logs.append)
  assert again.run("seed_0/lc_283/meta", work, settings={"steps": 3, "out": str(moved / "a")}) == first
  assert len(calls) == 1


def test_a_changed_stage_is_refused_or_rerun_with_every_stage_that_reads_it(tmp_path):
  out = tmp_path / "adapt"
  runs = []

  def stage(name):
    def fn():
      runs.append(name)
      if name == "adapt":
        out.mkdir(exist_ok=True)
        (out / "weights").write_text(name)
      return name
    return fn

  def pipeline(runner, steps, samples):
    runner.run("adapt", stage("adapt"), settings={"train": {"steps": steps}}, clear=[str(out)])
    runner.run("eval", stage("eval"), settings={"samples": samples}, after=["adapt"])
    runner.run("other", stage("other"), settings={"x": 1})

  pipeline(StageRunner(str(tmp_path / "stages")), 3, 2)
  assert runs == ["adapt", "eval", "other"]
  with pytest.raises(StageChanged, match=r"stage 'adapt' finished with other settings than this run's: "
                                         r"settings\.train\.steps: 3 -> 5\. use another --workdir"):
    pipeline(StageRunner(str(tmp_path / "stages")), 5, 2)
  with pytest.raises(StageChanged, match=r"stage 'eval' .*settings\.samples: 2 -> 3"):
    pipeline(StageRunner(str(tmp_path / "stages")), 3, 3)
  assert runs == ["adapt", "eval", "other"] and (out / "weights").read_text() == "adapt"

  runs.clear()
  (out / "stale").write_text("from the old settings")
  pipeline(StageRunner(str(tmp_path / "stages"), rerun_changed=True), 5, 2)
  assert runs == ["adapt", "eval"]  # eval reads adapt, which changed; "other" does not
  assert not (out / "stale").exists()  # the changed stage's folder was cleared first
  runs.clear()
  pipeline(StageRunner(str(tmp_path / "stages")), 5, 2)
  assert runs == []


def test_a_record_without_settings_is_refused(tmp_path):
  runner = StageRunner(str(tmp_path / "stages"))
  os.makedirs(tmp_path / "stages", exist_ok=True)
  (tmp_path / "stages" / "old.json").write_text('{"seconds": 1, "cpu_seconds": 1, "result": 1}')
  with pytest.raises(StageChanged, match="recorded by an older version of the pipeline, without its settings"):
    runner.run("old", lambda: 2, settings={"a": 1})
