"""`python -m meta_rfft.pipeline --config=configs/demo.py --workdir=DIR [--config.x=y ...]`: runs the config's job,
meta_rfft/pipeline/job.py (job=experiment) or models_job.py (job=models). Rerunning skips finished stages."""
from __future__ import annotations

import argparse

from meta_rfft import cli
from meta_rfft.config.loader import main_with_config, save_config
from meta_rfft.pipeline import job, models_job

JOBS = {"experiment": job, "models": models_job}


def main(argv: list[str]) -> int:
  cfg, rest = main_with_config(argv)
  if cfg.get("job", "experiment") not in JOBS:
    return cli.fail(f"config.job={cfg.job!r}: choose among {tuple(JOBS)}")
  job_module = JOBS[cfg.get("job", "experiment")]
  parser = argparse.ArgumentParser(prog="python -m meta_rfft.pipeline")
  parser.add_argument("--workdir", required=True, help="DIR: every stage writes under it")
  args = parser.parse_args(rest)
  _, code = cli.run_or_report(lambda: job_module.check_config(cfg), "meta_rfft.pipeline")
  if code:
    return code

  def run():
    path = models_job.run(cfg, args.workdir, argv) if job_module is models_job else job.run(cfg, args.workdir)
    # Written once every stage agrees with it: DIR/config.json never states settings its results did not use.
    save_config(cfg, args.workdir, argv)
    return path
  path, code = cli.run_or_report(run, "meta_rfft.pipeline")
  if code:
    return code
  print(f"wrote {path}")
  return cli.EXIT_OK


if __name__ == "__main__":
  cli.entry(main)
