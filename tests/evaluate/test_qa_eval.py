"""`python -m meta_rfft.evaluate --config.qa=FILE`: questions with reference answers scored by exact match."""
import decimal
import json
import os
import re

import pytest

from meta_rfft.evaluate.qa import run as qa
from meta_rfft.evaluate.__main__ import main

GSM8K_STYLE = [
    {"question": "Tom has 3 apples and buys 4 more. How many apples does he have?",
     "answer": "He has 3 + 4 = <<3+4=7>>7 apples.\n#### 7", "id": "q1"},
    {"question": "What is 1,000 + 234?", "answer": "1,000 + 234 = 1,234\n#### 1,234"},
    {"question": "A train goes 60 km in 1 hour. How far in 2 hours?", "answer": "#### 120", "source": "extra key"},
    {"question": "Half of 9?", "answer": "9 / 2 = 4.5\n#### 4.5"},
    {"question": "How many legs do 2 cats have?", "answer": "8"},
]


def _write_jsonl(path, rows):
  with open(path, "w") as f:
    f.write("".join(json.dumps(r) + "\n" for r in rows))
  return str(path)


def _args(ckpt, workdir, qa_file, *extra):
  return ["--config=configs/eval.py", f"--workdir={workdir}", f"--config.checkpoint={ckpt}", f"--config.qa={qa_file}",
          "--config.batch_size=8", "--config.qa_max_new_tokens=8", "--config.decoding.method=greedy", *extra]


def _rows(path):
  with open(path) as f:
    lines = [json.loads(line) for line in f if line.strip()]
  return lines[0]["header"], lines[1:]


def _expected(output, reference, pattern):
  """The test's own reading of the documented rule: the match that starts last in the output (overlapping
  matches allowed), its first number (thousands separators only in groups of three) or else its text; the
  reference's likewise, or the whole reference; then compared by value when both are numbers."""
  number = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"

  def last(text):
    starts = [i for i in range(len(text)) if re.compile(pattern).match(text, i)]
    return re.compile(pattern).match(text, starts[-1]).group(1).strip() if starts else None

  def answer(text):
    for m in re.finditer(number, text):
      before, after = text[:m.start()][-1:], text[m.end():m.end() + 2]
      if before not in tuple("0123456789,._") or not before:
        if not (after[:1] and after[0] in "0123456789,_") and not re.match(r"\.\d", after):
          return m.group(0)
    return text.strip()

  def norm(text):
    text = text.strip()
    text = text[:-1].strip() if text.endswith(".") else text
    return text
  parsed, ref = last(output), last(reference)
  if parsed is None:
    return False
  a, b = norm(answer(parsed)), norm(answer(reference.strip() if ref is None else ref))
  if re.fullmatch(number, a) and re.fullmatch(number, b):
    return decimal.Decimal(a.replace(",", "")) == decimal.Decimal(b.replace(",", ""))
  return a == b


def test_answers_are_extracted_and_normalised():
  gsm = qa.compile_pattern(r"####\s*(.+)")
  assert qa.reference_answer(gsm, "Natalia sold 48 + 24 = <<48+24=72>>72 clips.\n#### 1,234") == "1,234"
  assert qa.normalize_answer(qa.reference_answer(gsm, "... #### 1,234")) == "1234"
  assert qa.reference_answer(gsm, "  72 \n") == "72"  # no match: the whole reference, stripped
  assert qa.last_group(gsm, "#### 3\nthen #### 5.") == "5." and qa.last_group(gsm, "no answer") is None
  custom = qa.compile_pattern(r"answer is (\S+)")
  assert qa.last_group(custom, "the answer is 12, no, the answer is 1,000.") == "1,000."
  assert qa.normalize_answer(" 1,000. ") == "1000" and qa.normalize_answer("a, b") == "a, b"
  assert qa.answers_match("1,000.", "1000") and qa.answers_match("42.0", "42") and qa.answers_match("-3", "-3.00")
  assert not qa.answers_match("42", "43") and not qa.answers_match("4 2", "42")
  assert qa.answers_match("Paris.", "Paris") and not qa.answers_match("paris", "Paris")
  assert qa.answers_match("nan", "nan") and not qa.answers_match("Infinity", "1e999")  # not numbers: as strings
  # The rule: the first number after the last marker; thousands separators only in groups of three.
  assert qa.last_group(gsm, "#### 7 and #### 9") == "9"
  assert not qa.answers_match("1,2,3", "123") and not qa.answers_match("1_000", "1000")
  assert qa.answers_match("The total is 1,234 dollars.", "1234") and qa.answers_match("12,345,678", "12345678")
  assert not qa.answers_match("12,34", "1234") and qa.answers_match("-5.", "-5")
  # GSM8K's own answer lines (test set, first three): the number after "####".
  for line, want in (("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = $<<9*2=18>>18 "
                      "every day at the farmer's market.\n#### 18", "18"),
                     ("It takes 2/2=<<2/2=1>>1 bolt of white fiber\nSo the total amount of fabric is 2+1=<<2+1=3>>3 "
                      "bolts of fabric\n#### 3", "3"),
                     ("The cost of the house and repairs came out to 80,000+50,000=$<<80000+50000=130000>>130,000\n"
                      "He increased the value of the house by 80,000*1.5=<<80000*1.5=120000>>120,000\nSo the new "
                      "value of the house is 120,000+80,000=$<<120000+80000=200000>>200,000\nSo he made a profit of "
                      "200,000-130,000=$<<200000-130000=70000>>70,000\n#### 70000", "70000")):
    assert qa.reference_answer(gsm, line) == want
    assert qa.answers_match(qa.last_group(gsm, f"so #### {want}."), qa.reference_answer(gsm, line))
  for bad, match in (("(", "not a valid regex"), (r"(\d+) (\d+)", "exactly one group"), (r"\d+", "exactly one")):
    with pytest.raises(ValueError, match=rf"config\.qa_answer_pattern.*{match}"):
      qa.compile_pattern(bad)


def test_qa_scores_resumes_and_refuses_other_settings(tiny_eval_checkpoint, tmp_path, capsys):
  run = tmp_path / "run"
  first = _write_jsonl(tmp_path / "first.jsonl", GSM8K_STYLE)
  assert main(_args(tiny_eval_checkpoint, run, first)) == 0
  out = capsys.readouterr().out
  qa_dir = run / "eval" / "qa" / "first"
  assert re.search(r"qa first: 0/5 = 0\.0% \[0\.0%, \d+\.\d%\]", out), out
  for name in ("config.json", "samples.jsonl", "report.json", "report.md"):
    assert (qa_dir / name).stat().st_size > 0
  _, rows = _rows(qa_dir / "samples.jsonl")
  assert sorted(r["line"] for r in rows) == [1, 2, 3, 4, 5] and {r["format"] for r in rows} == {"qa"}
  assert all(1 <= r["new_tokens"] <= 8 for r in rows)
  assert {r["line"]: r.get("id") for r in rows} == {1: "q1", 2: None, 3: None, 4: None, 5: None}

  # A second file where one reference is what the model answered (its output's last word, under a pattern that
  # reads it): that row must score True.
  pattern = r"(\S+)\s*$"
  outputs = {r["line"]: r["output"] for r in rows}
  hit = min(n for n, text in outputs.items() if re.search(pattern, text))
  second_rows = [dict(r) for r in GSM8K_STYLE]
  second_rows[hit - 1]["answer"] = f"it ends with {re.search(pattern, outputs[hit]).group(1)}"
  second = _write_jsonl(tmp_path / "second.jsonl", second_rows)
  args = _args(tiny_eval_checkpoint, run, second, f"--config.qa_answer_pattern={pattern}")
  assert main(args) == 0
  out = capsys.readouterr().out
  qa_dir = run / "eval" / "qa" / "second"
  header, rows = _rows(qa_dir / "samples.jsonl")
  assert header["qa_answer_pattern"] == pattern and header["qa_max_new_tokens"] == 8
  by_line = {r["line"]: r for r in rows}
  assert {n: r["output"] for n, r in by_line.items()} == outputs  # same prompts, same greedy outputs
  for n, r in by_line.items():
    assert r["correct"] == _expected(r["output"], second_rows[n - 1]["answer"], pattern), n
  assert by_line[hit]["correct"]
  report = json.load(open(qa_dir / "report.json"))
  assert report["questions"] == len(rows) == 5 and report["correct"] == sum(r["correct"] for r in rows) >= 1
  assert report["accuracy"] == report["correct"] / 5 and report["ci95"][0] <= report["accuracy"] <= report["ci95"][1]
  assert report["pattern"] == pattern and report["label"] == "run" and report["decoding"] == "greedy"
  assert f"qa second: {report['correct']}/5" in out and "wrote " in out
  assert "| line | question | parsed | reference |" in open(qa_dir / "report.md").read()

  # A rerun decodes nothing and leaves the samples as they were.
  samples = (qa_dir / "samples.jsonl").read_bytes()
  assert main(args) == 0
  assert "resuming, 5 of 5 samples" in capsys.readouterr().out
  assert (qa_dir / "samples.jsonl").read_bytes() == samples
  from meta_rfft.config.loader import load_config
  cfg, _ = load_config(args)
  assert qa.evaluate(cfg, str(run))["decoded"] is False

  # Another pattern, or the same file name with other content, would mix two scorings: refused by name, config
  # and samples kept.
  config = (qa_dir / "config.json").read_text()
  assert main(_args(tiny_eval_checkpoint, run, second)) == 2
  err = capsys.readouterr().err
  assert "samples.jsonl was written with other settings" in err and "qa_answer_pattern" in err
  _write_jsonl(tmp_path / "second.jsonl", second_rows[:4])
  assert main(args) == 2
  assert "qa_sha1" in capsys.readouterr().err
  assert (qa_dir / "config.json").read_text() == config and (qa_dir / "samples.jsonl").read_bytes() == samples


@pytest.mark.parametrize("lines, match", [
    (['{"question": "a?", "answer": "1"}', '{"question": "b?", "answer": "2"}', 'not json'],
     r"bad.jsonl:3: not valid JSON"),
    (['{"question": "a?", "answer": "1"}', '{"question": "b?"}'], r"bad.jsonl:2: no 'answer' key"),
    (['{"question": "a?", "answer": 1}'], r"bad.jsonl:1: 'answer' must be a string"),
    (['["a?", "1"]'], r"bad.jsonl:1: not a JSON object"),
    ([], r"no questions"),
])
def test_bad_files_are_named_and_nothing_is_written(tmp_path, capsys, lines, match):
  path = tmp_path / "bad.jsonl"
  path.write_text("\n".join(lines) + ("\n" if lines else ""))
  run = tmp_path / "run"
  # The checkpoint is never read: the file is refused first.
  assert main(_args(str(tmp_path / "no_checkpoint"), run, str(path))) == 2
  err = capsys.readouterr().err
  assert str(path) in err and re.search(match, err), err
  assert not (run / "eval").exists()


def test_bad_settings_are_named(tmp_path, capsys):
  path = _write_jsonl(tmp_path / "q.jsonl", GSM8K_STYLE)
  for extra, match in ((r"--config.qa_answer_pattern=(\d+", "config.qa_answer_pattern"),
                       (r"--config.qa_answer_pattern=\d+", "exactly one group"),
                       ("--config.qa_max_new_tokens=0", "config.qa_max_new_tokens must be >= 1")):
    assert main(_args(str(tmp_path / "no_checkpoint"), tmp_path / "run", path, extra)) == 2
    assert match in capsys.readouterr().err
  assert not (tmp_path / "run").exists()
  assert main(_args(str(tmp_path / "no_checkpoint"), tmp_path / "run", str(tmp_path / "missing.jsonl"))) == 2
  assert "config.qa: no such file" in capsys.readouterr().err
  assert main(_args(str(tmp_path / "no_checkpoint"), tmp_path / "run", str(tmp_path))) == 2
  assert f"config.qa='{tmp_path}' is a folder; give a JSONL file of questions" in capsys.readouterr().err
