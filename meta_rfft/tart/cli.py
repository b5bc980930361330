"""The command line of meta_rfft.tart: which command, its config and WORKDIR, and how its errors exit."""
from __future__ import annotations

import argparse
import sys

from meta_rfft import cli
from meta_rfft.config.loader import main_with_config
from meta_rfft.tart.evaluate import evaluate
from meta_rfft.tart.train import train

COMMANDS = ("train", "evaluate")
USAGE = "python -m meta_rfft.tart {train|evaluate} --config=FILE[:arg] --workdir=DIR [--config.x=y ...]"


def main(argv: list[str]) -> int:
  if not argv or argv[0] not in COMMANDS:
    print(f"usage: {USAGE}", file=sys.stderr)
    return cli.fail(f"the first argument must be one of {', '.join(COMMANDS)}")
  command, argv = argv[0], argv[1:]
  config, rest = main_with_config(argv)
  parser = argparse.ArgumentParser(prog=f"python -m meta_rfft.tart {command}", usage=USAGE)
  parser.add_argument("--workdir", required=True,
                      help="DIR: the head's checkpoints and metrics; evaluation writes DIR/tart_eval/")
  workdir = parser.parse_args(rest).workdir
  full = ["python", "-m", "meta_rfft.tart", command, *argv]
  run = train if command == "train" else evaluate
  return cli.run_or_report(lambda: run(config, workdir, full), f"meta_rfft.tart {command}")[1]
