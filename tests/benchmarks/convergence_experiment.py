"""docs/studies/convergence.md's ICL-vs-fine-tuning experiment on this CPU, end to end (resumable: rerun the same command).

python tests/benchmarks/convergence_experiment.py --workdir=runs/convergence_cpu

1. The length-generalization pipeline (configs/lengthgen.py; the Meta-RFFT arm, seed 0, the `rf` format) on six
   held-out tasks: it builds the base model, RF-pretrains it on six list tasks at lengths 1-15 (the study's base
   model: DIR/seed_0/rf_pretrain) and adapts it to each held-out task on lengths 1-5 (DIR/seed_0/<task>/meta:
   the held-out tasks' tuned runs).
2. One multi-task adaptation of the RF-pretrained model to its six RF-pretraining tasks on lengths 1-5, with
   the held-out adaptations' data per task and steps per task (DIR/seen_adapt: the seen tasks' tuned run).
3. The study (configs/convergence.py:cpu) over all twelve tasks: DIR/convergence/.
The report, the figures and the wall/CPU time of each step are copied to tests/benchmarks/results/convergence/.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(REPO, "tests", "benchmarks", "results", "convergence")
HELDOUT = "lc_283,lc_2677,lc_1598,lc_2544,nupa_length_integer,nupa_get_digit_integer"


# The pipeline's own evaluation is kept small: the study evaluates every model.
PIPELINE_OVERRIDES = ("--config.seeds=0", "--config.arms=meta", "--config.format=rf",
                      f"--config.heldout_tasks={HELDOUT}", "--config.eval.lengths=1-8",
                      "--config.eval.samples_per_length=5")


def pipeline_config():
  from meta_rfft.config.loader import load_config
  return load_config([f"--config={os.path.join(REPO, 'configs', 'lengthgen.py')}", *PIPELINE_OVERRIDES])[0]


def seen_adaptation(cfg, workdir: str) -> str:
  """The RF-pretrained model adapted to all its RF-pretraining tasks at once, on the adaptation lengths."""
  from meta_rfft.pipeline import stages
  from meta_rfft.pipeline.layout import Layout
  lay = Layout(workdir)
  pretrain = cfg.pretrain_tasks.split(",")
  cfg = cfg.copy_and_resolve_references()
  cfg.data.pretrain_per_length = cfg.data.adapt_per_length  # each seen task gets a held-out task's data
  stage = cfg.adapt.copy_and_resolve_references()
  stage.steps = int(stage.steps) * len(pretrain)  # and its number of steps
  train_cfg = stages.train_config(cfg, stage, init=lay.pretrain(0, "long"), mixture=",".join(pretrain),
                                  build_tasks=pretrain + cfg.heldout_tasks.split(","),
                                  pretrain_lengths=cfg.data.adapt_lengths, data_dir=lay.data, seed=0)
  out = os.path.join(workdir, "seen_adapt")
  runner = stages.StageRunner(lay.stages)
  runner.run("seen_adapt", lambda: stages.run_training(train_cfg, out))
  return out


def study_config(workdir: str, seen_run: str):
  from meta_rfft.config.loader import load_config_file
  from meta_rfft.pipeline.layout import Layout
  lay = Layout(workdir)
  c = load_config_file(os.path.join(REPO, "configs", "convergence.py") + ":cpu")
  c.base = lay.pretrain(0, "long")
  c.tuned = ",".join([seen_run] + [f"{t}={lay.arm(0, t, 'meta')}" for t in HELDOUT.split(",")])
  c.tasks = ",".join(pipeline_config().pretrain_tasks.split(",") + HELDOUT.split(","))
  return c


def main(argv) -> int:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--workdir", default="runs/convergence_cpu")
  args = p.parse_args(argv)
  workdir = os.path.abspath(args.workdir)
  from meta_rfft.config.loader import save_config
  from meta_rfft.evaluate.convergence import study
  from meta_rfft.pipeline import job
  from meta_rfft.pipeline import stages
  from meta_rfft.pipeline.layout import Layout
  cfg = pipeline_config()
  job.run(cfg, workdir)  # every stage records its wall and CPU time in DIR/stages/ (a rerun skips it)
  seen_run = seen_adaptation(cfg, workdir)
  scfg = study_config(workdir, seen_run)
  out_dir = study.report_dir(workdir)
  command = ["convergence", "--config=configs/convergence.py:cpu", f"--workdir={workdir}",
             f"--config.base={scfg.base}", f"--config.tuned={scfg.tuned}", f"--config.tasks={scfg.tasks}"]
  runner = stages.StageRunner(Layout(workdir).stages)
  paths = runner.run("convergence_study", lambda: study.run(
      scfg, workdir, on_checked=lambda: save_config(scfg, out_dir, command))["paths"])
  os.makedirs(RESULTS, exist_ok=True)
  for name in paths:
    shutil.copy(os.path.join(out_dir, name), os.path.join(RESULTS, name))
  records = runner.records()
  total = {k: round(sum((r[k] or 0) for r in records.values()), 1) for k in ("seconds", "cpu_seconds")}
  with open(os.path.join(RESULTS, "times.json"), "w") as f:
    json.dump({"stages": records, "total": total,
               "reproduce": f"python tests/benchmarks/convergence_experiment.py --workdir={args.workdir}",
               "study_command": "python -m meta_rfft.evaluate " + " ".join(command)}, f, indent=2)
  print(open(os.path.join(out_dir, "report.md")).read())
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
