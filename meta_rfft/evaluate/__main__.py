"""`python -m meta_rfft.evaluate --config=configs/eval.py --workdir=RUN [--config.x=y ...]`
`python -m meta_rfft.evaluate compare RUN_A RUN_B ... [--out DIR] [--labels a,b]`"""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str]) -> int:
  if argv and argv[0] == "compare":
    from meta_rfft.evaluate.compare import main as compare_main
    return compare_main(argv[1:])
  from meta_rfft.config.loader import main_with_config, save_config
  cfg, rest = main_with_config(argv)
  parser = argparse.ArgumentParser(prog="python -m meta_rfft.evaluate")
  parser.add_argument("--workdir", required=True, help="RUN folder; reports go to RUN/eval/")
  args = parser.parse_args(rest)
  from meta_rfft.evaluate.runner import evaluate
  try:
    save_config(cfg, f"{args.workdir}/eval", argv)
    result = evaluate(cfg, args.workdir)
  except (ValueError, FileNotFoundError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  for fmt, block in result["summary"]["formats"].items():
    o = block["overall"]
    acc30 = "-" if o["acc_len30"] is None else f"{100 * o['acc_len30']:.1f}%"
    print(f"{fmt}: {o['tasks']} task(s), acc@longest {100 * o['acc_longest']:.1f}%, ACC_Len30 {acc30}, "
          f"Max_Len_90% {o['max_len_90']:.2f}")
  print("wrote " + ", ".join(result["paths"].values()))
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
