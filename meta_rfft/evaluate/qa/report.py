"""RUN/eval/qa/<file stem>/report.json and report.md from the scored rows of a question-answer evaluation."""
from __future__ import annotations

import json
import os
from typing import Any, Mapping, Sequence

from scipy.stats import binomtest

from meta_rfft import io_paths, layouts

WRONG_SHOWN = 5       # wrong answers listed in report.md, in file order
QUESTION_CHARS = 120  # a listed question's text is cut to this many characters


def summarize(records: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> dict:
  """report.json's content: the counts, the accuracy and its 95% Wilson score interval, and `meta` (file, sha1,
  pattern, max_new_tokens, checkpoint, decoding, label)."""
  n = len(records)
  correct = sum(bool(r["correct"]) for r in records)
  ci = binomtest(correct, n).proportion_ci(confidence_level=0.95, method="wilson")
  return {**meta, "questions": n, "correct": correct, "accuracy": correct / n,
          "ci95": [float(ci.low), float(ci.high)], "ci_method": "wilson",
          "unparsed": sum(r["parsed"] is None for r in records)}


def line(report: Mapping[str, Any], stem: str) -> str:
  """The one-line result the entry point prints."""
  lo, hi = report["ci95"]
  return (f"qa {stem}: {report['correct']}/{report['questions']} = {100 * report['accuracy']:.1f}% "
          f"[{100 * lo:.1f}%, {100 * hi:.1f}%]")


def _cell(text: Any, limit: int | None = None) -> str:
  """`text` as one Markdown table cell: on one line, pipes escaped, cut to `limit` characters."""
  text = "(none)" if text is None else " ".join(str(text).split())
  if limit is not None and len(text) > limit:
    text = text[:limit - 3] + "..."
  return text.replace("|", "\\|")


def markdown(report: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> str:
  lo, hi = report["ci95"]
  lines = [f"# Question answering: `{report['file']}`", "",
           "| run | questions | correct | accuracy | 95% interval (Wilson) | no answer found |",
           "|---|---|---|---|---|---|",
           f"| {_cell(report['label'])} | {report['questions']} | {report['correct']} | "
           f"{100 * report['accuracy']:.1f}% | {100 * lo:.1f}% - {100 * hi:.1f}% | {report['unparsed']} |", "",
           f"Checkpoint `{report['checkpoint']}`, {report['decoding']} decoding, at most {report['max_new_tokens']} "
           f"new tokens per question. The answer is the last match of `{report['pattern']}` in the output (in the "
           "reference: its last match, else the whole reference), compared after normalisation (whitespace, commas "
           "between digits, a final period; numbers by value).", ""]
  wrong = sorted((r for r in records if not r["correct"]), key=lambda r: int(r["seed"]))[:WRONG_SHOWN]
  if wrong:
    lines += [f"First {len(wrong)} wrong answers:", "", "| line | question | parsed | reference |", "|---|---|---|---|"]
    lines += [f"| {r['seed']} | {_cell(r['prompt'], QUESTION_CHARS)} | {_cell(r['parsed'], 40)} | "
              f"{_cell(r['reference'], 40)} |" for r in wrong]
    lines.append("")
  return "\n".join(lines)


def write(layout: layouts.QaEvalDir, records: Sequence[Mapping[str, Any]],
          meta: Mapping[str, Any]) -> tuple[dict, dict[str, str]]:
  """Writes report.json and report.md; returns (the report, {file name: path})."""
  report = summarize(records, meta)
  paths = {p.name: os.fspath(p) for p in (layout.report_json, layout.report_md)}
  io_paths.write_text(paths["report.json"], json.dumps(report, indent=2, sort_keys=True))
  io_paths.write_text(paths["report.md"], markdown(report, records))
  return report, paths
