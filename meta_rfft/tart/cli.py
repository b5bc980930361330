"""The command line of meta_rfft.tart: which command, its config and WORKDIR, and how its errors exit."""
from __future__ import annotations

import argparse
import sys

from meta_rfft import io_paths
from meta_rfft.config.loader import main_with_config

COMMANDS = ("train", "evaluate")
USAGE = "python -m meta_rfft.tart {train|evaluate} --config=FILE[:arg] --workdir=DIR [--config.x=y ...]"


def main(argv: list[str]) -> None:
  if not argv or argv[0] not in COMMANDS:
    print(f"usage: {USAGE}\nerror: the first argument must be one of {', '.join(COMMANDS)}", file=sys.stderr)
    sys.exit(2)
  command, argv = argv[0], argv[1:]
  config, rest = main_with_config(argv)
  parser = argparse.ArgumentParser(prog=f"python -m meta_rfft.tart {command}", usage=USAGE)
  parser.add_argument("--workdir", required=True,
                      help="DIR: the head's checkpoints and metrics; evaluation writes DIR/tart_eval/")
  workdir = parser.parse_args(rest).workdir
  full = ["python", "-m", "meta_rfft.tart", command, *argv]
  try:
    if command == "train":
      from meta_rfft.tart.train import train  # pylint: disable=g-import-not-at-top
      train(config, workdir, full)
    else:
      from meta_rfft.tart.evaluate import evaluate  # pylint: disable=g-import-not-at-top
      evaluate(config, workdir, full)
  except ValueError as e:  # a config or input the run cannot use: named in the message
    print(f"error: {e}", file=sys.stderr, flush=True)
    sys.exit(2)
  except Exception as e:  # pylint: disable=broad-except
    io_paths.exit_if_out_of_space(e, f"meta_rfft.tart {command}")
    raise
