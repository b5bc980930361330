"""`python -m meta_rfft.evaluate --config=configs/eval.py --workdir=RUN [--config.x=y ...]`
`python -m meta_rfft.evaluate --config=configs/eval.py --workdir=RUN --config.qa=QUESTIONS.jsonl [--config.x=y ...]`
`python -m meta_rfft.evaluate compare RUN_A RUN_B ... [--out DIR] [--labels a,b]`
`python -m meta_rfft.evaluate convergence --config=configs/convergence.py --workdir=DIR [--config.x=y ...]`

Multi-host: run the same command on every host (`config.distributed`, as for the trainer)."""
from __future__ import annotations

import argparse
import os

from meta_rfft import cli, distributed, layouts
from meta_rfft.config.loader import main_with_config, save_config
from meta_rfft.evaluate import compare
from meta_rfft.evaluate.convergence import cli as convergence_cli
from meta_rfft.evaluate.length.run import evaluate
from meta_rfft.evaluate.qa import report as qa_report
from meta_rfft.evaluate.qa import run as qa


def main(argv: list[str]) -> int:
  if argv and argv[0] == "compare":
    return compare.main(argv[1:])
  if argv and argv[0] == "convergence":
    return convergence_cli.main(argv[1:])
  cfg, rest = main_with_config(argv)
  parser = argparse.ArgumentParser(prog="python -m meta_rfft.evaluate")
  parser.add_argument("--workdir", required=True,
                      help="RUN folder; reports go to RUN/eval/ (with config.qa: RUN/eval/qa/<file stem>/)")
  args = parser.parse_args(rest)

  def run():
    # Before any other JAX call, as the trainer does: with several processes (a TPU pod, SLURM, or an explicit
    # coordinator) every process joins here and runs this same command; only process 0 writes RUN/eval/.
    distributed.initialize(cfg)
    if cfg.qa:  # questions with reference answers instead of the rule tasks (meta_rfft/evaluate/qa/run.py)
      qa_dir = os.fspath(qa.layout_of(args.workdir, cfg.qa).root)
      return qa.evaluate(cfg, args.workdir, on_checked=lambda: save_config(cfg, qa_dir, argv))
    eval_dir = os.fspath(layouts.Workdir.at(args.workdir).eval.root)
    # Saved once the run's samples.jsonl is known to match: a refused resume leaves the old config there.
    return evaluate(cfg, args.workdir, on_checked=lambda: save_config(cfg, eval_dir, argv))
  result, code = cli.run_or_report(run, "meta_rfft.evaluate")
  if code:
    return code
  if cfg.qa:
    if result["report"] is not None:  # None on processes 1..N-1: process 0 prints the results
      print(qa_report.line(result["report"], qa.stem_of(cfg.qa)))
      print("wrote " + ", ".join(result["paths"].values()))
    return cli.EXIT_OK
  if result["summary"] is None:  # processes 1..N-1: process 0 prints the results
    return cli.EXIT_OK
  for fmt, block in result["summary"]["formats"].items():
    o = block["overall"]
    acc30 = "-" if o["acc_len30"] is None else f"{100 * o['acc_len30']:.1f}%"
    print(f"{fmt}: {o['tasks']} task(s), acc@longest {100 * o['acc_longest']:.1f}%, ACC_Len30 {acc30}, "
          f"Max_Len_90% {o['max_len_90']:.2f}")
  print("wrote " + ", ".join(result["paths"].values()))
  return cli.EXIT_OK


if __name__ == "__main__":
  cli.entry(main)
