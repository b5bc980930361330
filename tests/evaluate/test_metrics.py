"""Scoring, metrics, reports and compare, on real rendered examples and hand-checked numbers."""
import json
import os

import pytest

from meta_rfft.evaluate import compare, examples
from meta_rfft.evaluate.length import metrics, report


def _rec(task, length, correct, fmt="rf", traced=None, ref=None):
  return {"format": fmt, "task": task, "length": length, "correct": correct, "traced_loops": traced,
          "ref_loops": ref}


def test_max_len_90_counts_from_the_start():
  assert metrics.max_len_at({1: 1.0, 2: 0.95, 3: 0.5, 4: 1.0}) == 2
  assert metrics.max_len_at({1: 0.8, 2: 1.0}) == 0
  assert metrics.max_len_at({1: 1.0, 5: 0.9, 30: 0.9}) == 30


def test_summarize_hand_checked():
  recs = ([_rec("a", 1, True, traced=1, ref=1)] * 2 + [_rec("a", 30, True, traced=30, ref=30),
          _rec("a", 30, False, traced=28, ref=30)] + [_rec("b", 1, False, traced=0, ref=2),
          _rec("b", 1, True, traced=2, ref=2)] + [_rec("b", 30, False, traced=31, ref=29)])
  s = metrics.summarize(recs)["formats"]["rf"]
  a, b = s["tasks"]["a"], s["tasks"]["b"]
  assert a["lengths"]["30"] == {"count": 2, "accuracy": 0.5, "loop_error_mean": 1.0, "loop_error_rate": 0.5}
  assert (a["acc_longest"], a["acc_len30"], a["max_len_90"]) == (0.5, 0.5, 1)
  assert (b["acc_longest"], b["acc_len30"], b["max_len_90"]) == (0.0, 0.0, 0)
  assert b["lengths"]["1"]["loop_error_mean"] == 1.0
  assert s["overall"]["acc_len30"] == 0.25 and s["overall"]["max_len_90"] == 0.5
  assert s["overall"]["accuracy_by_length"] == {"1": 0.75, "30": 0.25}


def test_reference_outputs_score_perfectly_and_wrong_ones_do_not():
  tasks = examples.select_tasks("nupa_length_integer,lc_258")
  batches = examples.make_batches(["rf", "direct"], tasks, [2, 4], 3, 2)
  assert [b.id for b in batches][:3] == ["rf/nupa_length_integer/2/0", "rf/nupa_length_integer/2/2",
                                         "rf/nupa_length_integer/4/0"]
  assert len({it.seed for b in batches for it in b.items}) == 3  # the test split's seeds, shared by tasks
  for b in batches:
    good = examples.scorer()(b, [it.targets for it in b.items], [1] * len(b.items), [1] * len(b.items))
    assert all(r["correct"] for r in good)
    if b.items[0].fmt == "rf":
      assert all(r["traced_loops"] == r["ref_loops"] > 0 for r in good)
    bad = examples.scorer()(b, [it.targets + "0" for it in b.items], [1] * len(b.items), [1] * len(b.items))
    assert not any(r["correct"] for r in bad)


def test_bad_settings_name_the_key():
  with pytest.raises(ValueError, match="config.formats: unknown format 'cot'"):
    examples.parse_formats("rf,cot")
  with pytest.raises(ValueError, match="config.tasks: unknown task 'lc_999'"):
    examples.select_tasks("lc_999")
  with pytest.raises(ValueError, match="config.lengths"):
    examples.lengths_of("1-x")


def _report(tmp_path, name, acc_short, acc_long):
  recs = []
  for task in ("a", "b"):
    recs += [_rec(task, 2, acc_short > i / 4) for i in range(4)]
    recs += [_rec(task, 10, acc_long > i / 4) for i in range(4)]
  run = tmp_path / name
  report.write_reports(str(run / "eval"), metrics.summarize(recs), {"label": name, "train_lengths": "1-5"},
                       [1, 2, 3, 4, 5])
  return str(run)


def test_reports_and_compare(tmp_path):
  meta = _report(tmp_path, "meta_rfft", 1.0, 0.75)
  vanilla = _report(tmp_path, "vanilla", 1.0, 0.25)
  for name in ("report.json", "report.md", "accuracy_vs_length.png"):
    assert os.path.getsize(os.path.join(meta, "eval", name)) > 100
  out = compare.compare([meta, vanilla], str(tmp_path / "cmp"))
  lines = out["table"].split("\n")
  assert lines[0].startswith("| run | format | tasks | len 2 | len 10 |")  # numeric, not text, order
  assert lines[2].startswith("| meta_rfft | rf | 2 | 100 | 75 | 75 | - | 2.00 |")
  assert lines[3].startswith("| vanilla | rf | 2 | 100 | 25 | 25 | - | 2.00 |")
  assert os.path.getsize(out["png"]) > 1000
  rows = json.load(open(out["json"]))
  assert rows[0]["acc_longest"] == 0.75 and list(rows[0]["curve"]) == ["2", "10"]
  with pytest.raises(FileNotFoundError, match="has no eval/report.json"):
    compare.compare([str(tmp_path / "nothing")], str(tmp_path / "cmp2"))
  # The same run twice (as RUN and as its report), one label for two runs, and an --out that is a file.
  with pytest.raises(ValueError, match=r"compare: '.*vanilla/eval/report.json' is the same run as '.*vanilla'"):
    compare.compare([vanilla, meta, os.path.join(vanilla, "eval", "report.json")], str(tmp_path / "cmp3"))
  with pytest.raises(ValueError, match="compare: the label 'x' names several runs"):
    compare.compare([meta, vanilla], str(tmp_path / "cmp3"), ["x", "x"])
  (tmp_path / "a_file").write_text("")
  assert compare.main([meta, vanilla, f"--out={tmp_path / 'a_file'}"]) == 2
  assert not (tmp_path / "cmp3").exists()


def test_a_length_no_instance_can_have_is_refused_naming_the_task():
  """Found while building the work list, before any model is loaded (Python's int-digits limit here)."""
  with pytest.raises(ValueError, match=r"config.lengths: task 'nupa_add_integer' cannot make a rf example of "
                                       r"length 100000"):
    examples.make_batches(["rf"], examples.select_tasks("nupa_add_integer"), [3, 100000], 1, 1)
