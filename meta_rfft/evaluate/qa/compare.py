"""The question-answer part of `compare`: the retention table (the paper's Table 5 shape) across runs.

Every question-answer set a run scored (RUN/eval/qa/<stem>/, meta_rfft/evaluate/qa.py) gets one row per run: the
accuracy with its 95% Wilson interval and the outputs with no answer found. A run scored on the same file (same
content) as the set's first run is compared with it question by question: the change in accuracy and the exact
McNemar test on the paired answers (the two-sided binomial test of the questions one run got right and the
other wrong). Paired, because both runs answer the same questions: far more sensitive than comparing two
intervals, which is what "RF-pretraining kept general ability" needs.
"""
from __future__ import annotations

import json
import os
from typing import Any, Mapping, Sequence

from scipy.stats import binomtest

from meta_rfft import io_paths, layouts
from meta_rfft.evaluate.samples import read_samples


def eval_roots(run: str) -> list:
  """The eval folders `run` may name: a RUN folder's eval/, an eval folder itself, or a report.json's folder."""
  path = io_paths.resolve(run)
  if path.is_file():
    path = path.parent
  return [layouts.Workdir.at(run).eval.root, path]


def qa_sets(run: str) -> dict[str, layouts.QaEvalDir]:
  """{set name (the file's stem): its evaluation} for every question-answer set `run` scored."""
  for root in eval_roots(run):
    qa = root / "qa"
    if qa.is_dir():
      found = {d.name: layouts.QaEvalDir(d) for d in sorted(qa.iterdir(), key=lambda d: d.name)}
      return {name: d for name, d in found.items() if d.report_json.is_file()}
  return {}


def _answers(d: layouts.QaEvalDir) -> dict[int, bool]:
  """{line of the file: answered correctly} of one evaluation's samples."""
  return {int(r["line"]): bool(r["correct"]) for r in read_samples(os.fspath(d.samples), None, repair=False)}


def paired(first: Mapping[int, bool], other: Mapping[int, bool]) -> dict[str, Any]:
  """The change from `first` to `other` on the questions both answered, with the exact McNemar test."""
  common = sorted(set(first) & set(other))
  lost = sum(first[q] and not other[q] for q in common)
  gained = sum(other[q] and not first[q] for q in common)
  p = binomtest(min(lost, gained), lost + gained, 0.5).pvalue if lost + gained else 1.0
  change = (gained - lost) / len(common) if common else None
  return {"paired_questions": len(common), "lost": lost, "gained": gained, "change": change,
          "mcnemar_p": float(p)}


def collect(run_sets: Sequence[Mapping[str, layouts.QaEvalDir]], labels: Sequence[str]) -> list[dict]:
  """One block per set, in the order the runs first name them: {"set", "rows"}; each row the run's report numbers
  and, after the set's first run, the paired comparison with it (None for a file of other content).
  `run_sets`: each run's qa_sets."""
  blocks: dict[str, list[dict]] = {}
  first: dict[str, tuple[dict, dict[int, bool]]] = {}  # each set's first row and its answers
  for sets, label in zip(run_sets, labels):
    for name, d in sets.items():
      rep = json.loads(io_paths.read_text(d.report_json))
      row = {"run": label, "file": rep["file"], "sha1": rep["sha1"], "questions": rep["questions"],
             "correct": rep["correct"], "accuracy": rep["accuracy"], "ci95": rep["ci95"],
             "unparsed": rep["unparsed"], "vs": None}
      if name not in first:
        first[name] = (row, _answers(d))
      elif first[name][0]["sha1"] == row["sha1"]:
        row["vs"] = {"run": first[name][0]["run"], **paired(first[name][1], _answers(d))}
      blocks.setdefault(name, []).append(row)
  return [{"set": name, "rows": rows} for name, rows in blocks.items()]


def table(blocks: Sequence[Mapping[str, Any]]) -> str:
  out = ["| set | run | questions | accuracy | 95% interval (Wilson) | no answer found | change vs first | "
         "lost / gained | McNemar p |", "|---|---|---|---|---|---|---|---|---|"]
  for b in blocks:
    for r in b["rows"]:
      lo, hi = r["ci95"]
      vs = r["vs"]
      if vs is None:
        compared = "(first)" if r is b["rows"][0] else "(another file)"
        tail = f"{compared} | - | -"
      else:
        change = "-" if vs["change"] is None else f"{100 * vs['change']:+.1f} pts"
        tail = f"{change} vs {vs['run']} | {vs['lost']} / {vs['gained']} | {vs['mcnemar_p']:.3g}"
      out.append(f"| {b['set']} | {r['run']} | {r['questions']} | {100 * r['accuracy']:.1f}% | "
                 f"{100 * lo:.1f}% - {100 * hi:.1f}% | {r['unparsed']} | {tail} |")
  return "\n".join(out)
