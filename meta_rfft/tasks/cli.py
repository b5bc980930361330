"""`python -m meta_rfft.tasks list | show | export`: look at tasks and export examples as JSON lines.

  list                                   id, source, split, what length means
  show TASK --length L --format F [--seed S]
  export TASK_OR_MIXTURE --lengths 1-5 --num N --format F --out F.jsonl [--seed S]

Every command takes `--user_tasks PATHS`: task modules of the user's own, comma separated (.py paths or module
names), loaded and validated first as `config.data.user_tasks` is (meta_rfft/tasks/user_tasks.py).

TASK_OR_MIXTURE: a task id, `rf_pretrain` or `heldout` (all tasks of that split), or a comma-separated list
of those. A length outside a named task's range is an error; tasks that come in through a split name skip
the lengths outside their range (with a note). Export writes one JSON object a line: task, length, seed,
inputs, targets, answer; example k of a (task, length) uses seed `--seed + k`: with `--seed 0`, the
instances of the TFDS train split of build seed 0.
"""
from __future__ import annotations

import argparse
import json
import sys

from meta_rfft import cli, io_paths
from meta_rfft.tasks import formats, registry, user_tasks
from meta_rfft.tasks.spec import SPLITS


def parse_lengths(text: str) -> list[int]:
  """`1-5` -> [1..5]; `3` -> [3]; `1,4,7-9` -> [1, 4, 7, 8, 9]."""
  out = []
  for part in text.split(","):
    lo, sep, hi = part.strip().partition("-")
    try:
      out.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    except ValueError:
      raise ValueError(f"--lengths: cannot parse {part!r} (use e.g. 1-5 or 1,3,5)") from None
  if not out:
    raise ValueError(f"--lengths {text!r} selects no length")
  return out


def resolve_tasks(name: str) -> list[tuple]:
  """Task ids, split names (`rf_pretrain`, `heldout`) or comma-separated lists of those.

  Returns (task, named) pairs; `named` is False for tasks that came in through a split name.
  """
  tasks = []
  for part in name.split(","):
    part = part.strip()
    if part in SPLITS:
      tasks.extend((t, False) for t in registry.tasks_in_split(part))
    else:
      tasks.append((registry.get_task(part), True))
  return tasks


def _valid(task, lengths: list[int]) -> list[int]:
  return [n for n in lengths if n >= task.min_length and (task.max_length is None or n <= task.max_length)]


def _list(args) -> None:
  rows = [(t.id, t.source, t.split, t.length_meaning) for t in registry.all_tasks()]
  width = max(len(r[0]) for r in rows)
  print(f"{'id':{width}}  {'source':9} {'split':12} length")
  for r in rows:
    print(f"{r[0]:{width}}  {r[1]:9} {r[2]:12} {r[3]}")


def _show(args) -> None:
  task = registry.get_task(args.task)
  example = formats.make_example(task, args.length, args.seed, args.format)
  print(example.inputs, end="" if example.inputs.endswith("\n") else "\n")
  print(example.targets)


def _export(args) -> None:
  lengths = parse_lengths(args.lengths)
  plan = []
  for task, named in resolve_tasks(args.task):  # check every length first: fail before writing anything
    if named:
      for length in lengths:
        task.check_length(length)
    elif len(_valid(task, lengths)) < len(lengths):
      skipped = sorted(set(lengths) - set(_valid(task, lengths)))
      print(f"note: task {task.id!r} skips lengths {skipped} (outside its range)", file=sys.stderr)
    plan.append((task, lengths if named else _valid(task, lengths)))
  with io_paths.atomic_text_output(args.out) as f:
    _write_examples(f, plan, args)
  count = sum(len(task_lengths) for _, task_lengths in plan) * args.num
  print(f"wrote {count} examples of {len(plan)} tasks to {args.out}", file=sys.stderr)


def _write_examples(f, plan, args) -> None:
  for task, task_lengths in plan:
    for length in task_lengths:
      for k in range(args.num):
        seed = args.seed + k
        e = formats.make_example(task, length, seed, args.format)
        f.write(json.dumps({"task": task.id, "length": length, "seed": seed, "inputs": e.inputs,
                            "targets": e.targets, "answer": e.answer}) + "\n")


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m meta_rfft.tasks", description=__doc__.split("\n")[0])
  sub = parser.add_subparsers(dest="command", required=True)
  common = argparse.ArgumentParser(add_help=False)
  common.add_argument("--user_tasks", default="", metavar="PATHS",
                      help="comma-separated task modules (.py paths or module names) to load first")
  sub.add_parser("list", help="list the registered tasks", parents=[common])
  show = sub.add_parser("show", help="print one example", parents=[common])
  show.add_argument("task")
  show.add_argument("--length", type=int, required=True)
  show.add_argument("--format", default="rf")
  show.add_argument("--seed", type=int, default=0)
  export = sub.add_parser("export", help="write examples as JSON lines", parents=[common])
  export.add_argument("task", help="task id, rf_pretrain, heldout, or a comma-separated list")
  export.add_argument("--lengths", required=True)
  export.add_argument("--num", type=int, required=True, help="examples per task and length")
  export.add_argument("--format", default="rf")
  export.add_argument("--out", required=True)
  export.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)
  if getattr(args, "format", None) is not None and args.format not in formats.format_names():
    parser.error(f"--format {args.format!r} is unknown; formats: {', '.join(formats.format_names())}")
  if getattr(args, "num", 1) < 1:
    parser.error("--num must be at least 1")
  def run():  # an unknown task, impossible length, bad --lengths or bad user task: one clear line
    user_tasks.load_user_tasks(args.user_tasks, "--user_tasks")
    {"list": _list, "show": _show, "export": _export}[args.command](args)
  return cli.run_or_report(run, "meta_rfft.tasks")[1]
