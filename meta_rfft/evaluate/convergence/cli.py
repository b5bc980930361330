"""`python -m meta_rfft.evaluate convergence --config=configs/convergence.py --workdir=DIR [--config.x=y ...]`"""
from __future__ import annotations

import argparse
import os

from meta_rfft import cli, distributed, layouts
from meta_rfft.config.loader import main_with_config, save_config
from meta_rfft.evaluate.convergence import study


def main(argv: list[str]) -> int:
  cfg, rest = main_with_config(argv)
  parser = argparse.ArgumentParser(prog="python -m meta_rfft.evaluate convergence")
  parser.add_argument("--workdir", required=True, help="DIR; the study goes to DIR/convergence/")
  args = parser.parse_args(rest)
  out = os.fspath(layouts.Workdir.at(args.workdir).convergence.root)

  def run():
    distributed.initialize(cfg)  # before any other JAX call, as for the trainer and the evaluator
    # Saved once every input and every samples.jsonl already there are known to match: a refused run writes nothing.
    return study.run(cfg, args.workdir, on_checked=lambda: save_config(cfg, out, ["convergence"] + list(argv)))
  result, code = cli.run_or_report(run, "meta_rfft.evaluate convergence")
  if code:
    return code
  if not result:  # processes 1..N-1: process 0 prints the results
    return cli.EXIT_OK
  for group, by_pair in result["data"]["correlations"].items():
    for entry in by_pair.values():
      e = entry["over_tasks"]["spearman"]
      r = "undefined" if e["r"] is None else f"{e['r']:.2f}"
      print(f"{group}: Direct vs {entry['x']}: Spearman over {e['n']} tasks {r}")
  print("wrote " + ", ".join(result["paths"].values()))
  return cli.EXIT_OK
