"""`python -m meta_rfft.multiturn generate | validate`.

  generate --task T --turns N --num K --out F.jsonl [--lengths 1-3] [--format rf] [--seed S]
      K conversations of N turns (N may be a range such as 2-4: each conversation draws its count) about
      task T: the rule stated once in the first user turn, one question per turn, each answered with the
      format's trace as reasoning and `So the answer is X` as the answer. Instance lengths are drawn from
      --lengths.
  validate F.jsonl
      checks every line against the conversation format; prints the number of conversations and turns.
"""
from __future__ import annotations

import argparse
import sys

from meta_rfft import cli
from meta_rfft.multiturn.conversation import read_jsonl, write_jsonl
from meta_rfft.multiturn.generate import generate
from meta_rfft.tasks import formats, registry
from meta_rfft.tasks.cli import parse_lengths


def _generate(args) -> None:
  task = registry.get_task(args.task)
  turns = parse_lengths(args.turns)
  convs = generate(task, turns, args.num, parse_lengths(args.lengths), args.seed, args.format)
  count = write_jsonl(convs, args.out)
  print(f"wrote {count} conversations ({sum(len(c.turns) for c in convs)} turns) of task {task.id} "
        f"to {args.out}", file=sys.stderr)


def _validate(args) -> None:
  convs = read_jsonl(args.path)
  if not convs:
    raise ValueError(f"{args.path} holds no conversation (every line is blank)")
  turns = [len(c.turns) for c in convs]
  empty = sum(not t.reasoning for c in convs for t in c.turns)
  print(f"{args.path}: {len(convs)} conversations, {sum(turns)} turns (min {min(turns, default=0)}, "
        f"max {max(turns, default=0)} per conversation), {empty} turns without reasoning")


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m meta_rfft.multiturn", description=__doc__.split("\n")[0])
  sub = parser.add_subparsers(dest="command", required=True)
  gen = sub.add_parser("generate", help="write multi-turn rule-following conversations as JSON lines")
  gen.add_argument("--task", required=True, help="task id (python -m meta_rfft.tasks list)")
  gen.add_argument("--turns", required=True, help="turns per conversation: N, or a range like 2-4")
  gen.add_argument("--num", type=int, required=True, help="number of conversations")
  gen.add_argument("--out", required=True)
  gen.add_argument("--lengths", default="1-3", help="instance lengths to draw from, e.g. 1-5 or 1,3")
  gen.add_argument("--format", default="rf", help="prompt format of each turn (rf, scratchpad, direct, ...)")
  gen.add_argument("--seed", type=int, default=0)
  val = sub.add_parser("validate", help="check a conversations file")
  val.add_argument("path")
  args = parser.parse_args(argv)
  if args.command == "generate":
    if args.format not in formats.format_names():
      parser.error(f"--format {args.format!r} is unknown; formats: {', '.join(formats.format_names())}")
    if args.num < 1:
      parser.error("--num must be at least 1")
  # ConversationError is a ValueError: one clear line, no traceback
  return cli.run_or_report(lambda: {"generate": _generate, "validate": _validate}[args.command](args),
                           "meta_rfft.multiturn")[1]
