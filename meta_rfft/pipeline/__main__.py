"""`python -m meta_rfft.pipeline --config=configs/demo.py --workdir=DIR [--config.x=y ...]`: runs the job in
meta_rfft/pipeline/job.py. Rerunning skips finished stages."""
from __future__ import annotations

import argparse
import sys

from meta_rfft import io_paths


def main(argv: list[str]) -> int:
  from meta_rfft.config.loader import main_with_config, save_config
  from meta_rfft.pipeline import job, models_job
  cfg, rest = main_with_config(argv)
  if cfg.get("job", "experiment") not in ("experiment", "models"):
    print(f"error: config.job={cfg.job!r}: choose experiment or models", file=sys.stderr)
    return 2
  job_module = models_job if cfg.get("job") == "models" else job
  parser = argparse.ArgumentParser(prog="python -m meta_rfft.pipeline")
  parser.add_argument("--workdir", required=True, help="DIR: every stage writes under it")
  args = parser.parse_args(rest)
  try:
    job_module.check_config(cfg)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  try:
    path = (models_job.run(cfg, args.workdir, argv) if job_module is models_job else job.run(cfg, args.workdir))
    # Written once every stage agrees with it: DIR/config.json never states settings its results did not use.
    save_config(cfg, args.workdir, argv)
  except Exception as e:  # pylint: disable=broad-except  (re-raised unless it names what the user can fix)
    io_paths.exit_if_out_of_space(e, "meta_rfft.pipeline")
    if not isinstance(e, ValueError):
      raise
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  from meta_rfft import scratch  # pylint: disable=g-import-not-at-top
  scratch.use_private_tempdir()
  sys.exit(main(sys.argv[1:]))
