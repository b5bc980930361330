"""`compare` over question-answer results: the retention table, each run against the first on the same questions
(hand-checked counts and McNemar p-values), beside the rule-task table or alone."""
import json
import os

import pytest

from meta_rfft import layouts
from meta_rfft.evaluate import compare
from meta_rfft.evaluate.length import metrics, report
from meta_rfft.evaluate.qa import compare as qa_compare
from meta_rfft.evaluate.qa import report as qa_report

# Answers of three runs to the same ten questions (line 1..10): True = right.
BEFORE = [True] * 6 + [False] * 4
AFTER = [True, True, False, False, False, False, False, False, False, True]


def _qa_run(tmp_path, name, stem, correct, sha1="a" * 40):
  """RUN/eval/qa/<stem>/ as an evaluation leaves it: samples.jsonl (header, one row per question), reports."""
  layout = layouts.Workdir.at(str(tmp_path / name)).eval.qa(stem)
  layout.root.mkdir(parents=True)
  rows = [{"format": "qa", "task": stem, "length": 0, "seed": i + 1, "line": i + 1, "prompt": f"q{i + 1}?",
           "output": "#### 1", "parsed": "1" if ok else "2", "reference": "#### 1", "correct": ok}
          for i, ok in enumerate(correct)]
  layout.samples.write_text("\n".join(json.dumps(r) for r in [{"header": {"qa_sha1": sha1}}] + rows) + "\n")
  meta = {"file": f"/data/{stem}.jsonl", "sha1": sha1, "pattern": "####\\s*(.+)", "max_new_tokens": 8,
          "checkpoint": "ckpt", "decoding": "greedy", "label": name}
  qa_report.write(layout, rows, meta)
  return str(tmp_path / name)


def test_the_paired_change_and_mcnemar_test_are_exact():
  first = dict(enumerate(BEFORE, 1))
  got = qa_compare.paired(first, dict(enumerate(AFTER, 1)))
  # Lost: lines 3-6 (right before, wrong after); gained: line 10. Two-sided binomial(1 of 5, 1/2): 12/32.
  assert (got["lost"], got["gained"], got["paired_questions"]) == (4, 1, 10)
  assert got["change"] == pytest.approx(-0.3) and got["mcnemar_p"] == pytest.approx(12 / 32)
  same = qa_compare.paired(first, first)
  assert (same["lost"], same["gained"], same["change"], same["mcnemar_p"]) == (0, 0, 0.0, 1.0)


def test_compare_puts_question_answer_sets_beside_the_rule_tasks(tmp_path):
  base = _qa_run(tmp_path, "base", "gsm8k", BEFORE)
  tuned = _qa_run(tmp_path, "rf_pretrained", "gsm8k", AFTER)
  other = _qa_run(tmp_path, "other_file", "gsm8k", AFTER, sha1="b" * 40)
  # The tuned run also has rule-task results: its row in the length table, the others none.
  recs = [{"format": "rf", "task": "a", "length": n, "correct": True, "traced_loops": None, "ref_loops": None}
          for n in (1, 2)]
  report.write_reports(os.path.join(tuned, "eval"), metrics.summarize(recs), {"train_lengths": "1"}, [1])

  out = compare.compare([base, tuned, other], str(tmp_path / "cmp"))
  lines = out["table"].split("\n")
  assert lines[2].startswith("| rf_pretrained | rf | 1 | 100 | 100 |") and len(json.load(open(out["json"]))) == 1
  qa_rows = [line for line in lines if line.startswith("| gsm8k |")]
  assert qa_rows[0] == "| gsm8k | base | 10 | 60.0% | 31.3% - 83.2% | 0 | (first) | - | - |"
  assert qa_rows[1] == "| gsm8k | rf_pretrained | 10 | 30.0% | 10.8% - 60.3% | 0 | -30.0 pts vs base | 4 / 1 | 0.375 |"
  assert qa_rows[2].endswith("| (another file) | - | - |")
  blocks = json.load(open(out["qa_json"]))
  assert [r["run"] for r in blocks[0]["rows"]] == ["base", "rf_pretrained", "other_file"]
  assert blocks[0]["rows"][1]["vs"]["mcnemar_p"] == pytest.approx(0.375)
  md = open(out["md"]).read()
  assert "![accuracy vs length](compare.png)" in md and "McNemar" in md

  # Question-answer results alone: no length table or plot.
  after = _qa_run(tmp_path, "after_only", "gsm8k", AFTER)
  alone = compare.compare([base, after], str(tmp_path / "cmp_qa"), labels=["before", "after"])
  assert "png" not in alone and not os.path.exists(tmp_path / "cmp_qa" / "compare.png")
  assert alone["table"].split("\n")[3].startswith(
      "| gsm8k | after | 10 | 30.0% | 10.8% - 60.3% | 0 | -30.0 pts vs before |")
  with pytest.raises(FileNotFoundError, match="has no eval/report.json"):
    compare.compare([base, str(tmp_path / "nothing")], str(tmp_path / "cmp2"))
