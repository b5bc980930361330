"""`python -m meta_rfft.evaluate --config=configs/eval.py --workdir=RUN [--config.x=y ...]`
`python -m meta_rfft.evaluate --config=configs/eval.py --workdir=RUN --config.qa=QUESTIONS.jsonl [--config.x=y ...]`
`python -m meta_rfft.evaluate compare RUN_A RUN_B ... [--out DIR] [--labels a,b]`
`python -m meta_rfft.evaluate convergence --config=configs/convergence.py --workdir=DIR [--config.x=y ...]`

Multi-host: run the same command on every host (`config.distributed`, as for the trainer)."""
from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str]) -> int:
  if argv and argv[0] == "compare":
    from meta_rfft.evaluate.compare import main as compare_main
    return compare_main(argv[1:])
  if argv and argv[0] == "convergence":
    from meta_rfft.evaluate.convergence.cli import main as convergence_main
    return convergence_main(argv[1:])
  from meta_rfft.config.loader import main_with_config, save_config
  cfg, rest = main_with_config(argv)
  parser = argparse.ArgumentParser(prog="python -m meta_rfft.evaluate")
  parser.add_argument("--workdir", required=True,
                      help="RUN folder; reports go to RUN/eval/ (with config.qa: RUN/eval/qa/<file stem>/)")
  args = parser.parse_args(rest)
  from meta_rfft import distributed, layouts
  from meta_rfft.evaluate.cli_errors import run_or_report
  from meta_rfft.evaluate.runner import evaluate

  def run():
    # Before any other JAX call, as the trainer does: with several processes (a TPU pod, SLURM, or an explicit
    # coordinator) every process joins here and runs this same command; only process 0 writes RUN/eval/.
    distributed.initialize(cfg)
    if cfg.qa:  # questions with reference answers instead of the rule tasks (meta_rfft/evaluate/qa.py)
      from meta_rfft.evaluate import qa
      qa_dir = os.fspath(qa.layout_of(args.workdir, cfg.qa).root)
      return qa.evaluate(cfg, args.workdir, on_checked=lambda: save_config(cfg, qa_dir, argv))
    eval_dir = os.fspath(layouts.Workdir.at(args.workdir).eval.root)
    # Saved once the run's samples.jsonl is known to match: a refused resume leaves the old config there.
    return evaluate(cfg, args.workdir, on_checked=lambda: save_config(cfg, eval_dir, argv))
  result, code = run_or_report(run, "meta_rfft.evaluate")
  if code:
    return code
  if cfg.qa:
    from meta_rfft.evaluate import qa, qa_report
    if result["report"] is not None:  # None on processes 1..N-1: process 0 prints the results
      print(qa_report.line(result["report"], qa.stem_of(cfg.qa)))
      print("wrote " + ", ".join(result["paths"].values()))
    return 0
  if result["summary"] is None:  # processes 1..N-1: process 0 prints the results
    return 0
  for fmt, block in result["summary"]["formats"].items():
    o = block["overall"]
    acc30 = "-" if o["acc_len30"] is None else f"{100 * o['acc_len30']:.1f}%"
    print(f"{fmt}: {o['tasks']} task(s), acc@longest {100 * o['acc_longest']:.1f}%, ACC_Len30 {acc30}, "
          f"Max_Len_90% {o['max_len_90']:.2f}")
  print("wrote " + ", ".join(result["paths"].values()))
  return 0


if __name__ == "__main__":
  from meta_rfft import scratch  # pylint: disable=g-import-not-at-top
  scratch.use_private_tempdir()
  sys.exit(main(sys.argv[1:]))
