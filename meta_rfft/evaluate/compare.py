"""`python -m meta_rfft.evaluate compare RUN_A RUN_B ... [--out DIR]`: one table and one plot across runs.

Each run is a RUN folder (its eval/report.json is read), an eval folder, or a report.json. Every (run, format)
becomes one row and one curve (mean accuracy over the run's tasks at each length), e.g. Meta-RFFT vs vanilla
RFFT vs scratchpad vs direct. Writes DIR/compare.md, compare.json and compare.png; prints the table.

The question-answer sets the runs scored (eval/qa/<stem>/) get a table of their own, each run against the first
(qa/compare.py): before and after RF-pretraining, for instance. It goes into compare.md and compare_qa.json. A run
may hold only question-answer results.
"""
from __future__ import annotations

import argparse
import json
import os
from typing import Any, Mapping, Sequence

from meta_rfft import cli, io_paths, layouts
from meta_rfft.evaluate.examples import lengths_of
from meta_rfft.evaluate.length import report
from meta_rfft.evaluate.qa import compare as qa_compare


def find_report(run: str) -> str | None:
  for candidate in (run, os.fspath(layouts.EvalDir(io_paths.resolve(run)).report_json),
                    os.fspath(layouts.Workdir.at(run).eval.report_json)):
    if os.path.isfile(candidate):
      return candidate
  return None


def report_path(run: str) -> str:
  found = find_report(run)
  if found is None:
    raise FileNotFoundError(f"compare: {run} has no eval/report.json (run `python -m meta_rfft.evaluate` first)")
  return found


def run_labels(runs: Sequence[str], run_sets: Sequence[Mapping[str, Any]]) -> list[str]:
  """Each run's name: its evaluation's label (the rule tasks', else a question-answer set's), else its folder's.
  `run_sets`: each run's qa_compare.qa_sets."""
  names = []
  for run, sets in zip(runs, run_sets):
    found = find_report(run)
    meta = json.load(open(found)).get("meta", {}) if found else {}
    if not meta.get("label") and sets:
      meta = json.loads(io_paths.read_text(next(iter(sets.values())).report_json))
    names.append(_label(run, meta))
  return names


def _label(run: str, meta: dict) -> str:
  return meta.get("label") or os.path.basename(os.path.normpath(run))


def _shown_lengths(lengths: list[int]) -> list[int]:
  if len(lengths) <= 12:
    return lengths
  keep = {lengths[0], lengths[-1]} | {n for n in lengths if n % 5 == 0}
  return sorted(keep)


def collect(runs: Sequence[str], labels: Sequence[str] | None = None) -> list[dict]:
  rows = []
  for i, run in enumerate(runs):
    with open(report_path(run)) as f:
      rep = json.load(f)
    meta = rep.get("meta", {})
    label = labels[i] if labels else _label(run, meta)
    train = meta.get("train_lengths") or ""
    for fmt, block in rep["formats"].items():
      o = block["overall"]
      curve = dict(sorted((int(k), v) for k, v in o["accuracy_by_length"].items()))
      rows.append({"run": label, "format": fmt, "tasks": sorted(block["tasks"]), "curve": curve,
                   "acc_longest": o["acc_longest"], "acc_len30": o["acc_len30"], "max_len_90": o["max_len_90"],
                   "train_lengths": train})
  if not rows:
    raise ValueError("compare: the reports hold no results")
  return rows


def table(rows: list[dict]) -> str:
  lengths = _shown_lengths(sorted({n for r in rows for n in r["curve"]}))
  out = ["| run | format | tasks | " + " | ".join(f"len {n}" for n in lengths)
         + " | acc@longest | ACC_Len30 | Max_Len_90% |",
         "|---|---|---|" + "---|" * len(lengths) + "---|---|---|"]
  pct = lambda x: "-" if x is None else f"{100 * x:.0f}"  # noqa: E731
  for r in rows:
    out.append(f"| {r['run']} | {r['format']} | {len(r['tasks'])} | "
               + " | ".join(pct(r["curve"].get(n)) for n in lengths)
               + f" | {pct(r['acc_longest'])} | {pct(r['acc_len30'])} | "
               + ("-" if r["max_len_90"] is None else f"{r['max_len_90']:.2f}") + " |")
  return "\n".join(out)


def compare(runs: Sequence[str], out_dir: str, labels: Sequence[str] | None = None) -> dict[str, str]:
  if labels and len(labels) != len(runs):
    raise ValueError(f"compare: {len(labels)} labels for {len(runs)} runs")
  if os.path.exists(out_dir) and not os.path.isdir(out_dir):
    raise ValueError(f"compare: --out {out_dir} exists and is not a folder")
  seen: dict[str, str] = {}
  for run in runs:  # RUN, RUN/eval and RUN/eval/report.json are one run
    key = os.path.realpath(_run_root(run))
    if key in seen:
      raise ValueError(f"compare: {run!r} is the same run as {seen[key]!r}; name each run once")
    seen[key] = run
  run_sets = [qa_compare.qa_sets(run) for run in runs]
  names = list(labels) if labels else run_labels(runs, run_sets)
  twice = sorted({n for n in names if names.count(n) > 1})
  if twice:
    raise ValueError(f"compare: the label {twice[0]!r} names several runs "
                     f"({', '.join(r for r, n in zip(runs, names) if n == twice[0])}); give distinct --labels")
  qa_blocks = qa_compare.collect(run_sets, names)
  # A run with only question-answer results has no row in the length table; every other run needs a report.
  ruled = [i for i, run in enumerate(runs) if not run_sets[i] or find_report(run) is not None]
  rows = collect([runs[i] for i in ruled], [names[i] for i in ruled]) if ruled else []
  os.makedirs(out_dir, exist_ok=True)
  text = table(rows) if rows else ""
  md = ""
  if rows:
    md += ("Mean accuracy (%) over each run's tasks; Max_Len_90%: mean over tasks of the longest length up "
           "to which accuracy stays >= 90%.\n\n" + text + "\n\n![accuracy vs length](compare.png)\n")
  if qa_blocks:
    qa_text = qa_compare.table(qa_blocks)
    text = (text + "\n\n" if text else "") + qa_text
    md += (("\n" if md else "") + "Question-answer sets: exact-match accuracy; each run against the set's first "
           "run on the same questions (the exact McNemar test on the answers one run got right and the other "
           "wrong).\n\n" + qa_text + "\n")
  paths = {k: os.path.join(out_dir, f"compare.{k}") for k in ("md", "json", "png")}
  if qa_blocks:
    paths["qa_json"] = os.path.join(out_dir, "compare_qa.json")
    _write(paths["qa_json"], json.dumps(qa_blocks, indent=2))
  _write(paths["md"], md)
  if not rows:
    del paths["json"], paths["png"]
    return {**paths, "table": text}
  _write(paths["json"], json.dumps(rows, indent=2))
  multi_fmt = len({r["format"] for r in rows}) > 1
  curves = {(f"{r['run']} ({r['format']})" if multi_fmt else r["run"]): {str(k): v for k, v in r["curve"].items()}
            for r in rows}
  train = next((r["train_lengths"] for r in rows if r["train_lengths"]), "")
  report.write_plot(paths["png"], curves, lengths_of(train) if train else [], "mean accuracy vs length")
  return {**paths, "table": text}


def _run_root(run: str) -> str:
  """The RUN folder a compare argument names (RUN, RUN/eval or RUN/eval/report.json)."""
  path = os.path.abspath(run)
  if os.path.basename(path) == "report.json":
    path = os.path.dirname(path)
  return os.path.dirname(path) if os.path.basename(path) == "eval" else path


def _write(path: str, text: str) -> None:
  with io_paths.atomic_text_output(path) as f:
    f.write(text)


def main(argv: Sequence[str]) -> int:
  p = argparse.ArgumentParser(prog="python -m meta_rfft.evaluate compare", description=__doc__)
  p.add_argument("runs", nargs="+", help="RUN folders (with eval/report.json or eval/qa/), eval folders or "
                                          "report.json files")
  p.add_argument("--out", default="compare", help="folder for compare.md/.json/.png")
  p.add_argument("--labels", default="", help="comma-separated names for the runs (default: their labels)")
  args = p.parse_args(list(argv))
  labels = [s.strip() for s in args.labels.split(",")] if args.labels else None
  try:
    result = compare(args.runs, args.out, labels)
  except (OSError, ValueError) as e:
    return cli.fail(str(e))
  print(result["table"])
  print("wrote " + ", ".join(result[k] for k in ("md", "json", "png", "qa_json") if k in result))
  return 0
