"""`python -m meta_rfft.tasks list | show | export`, in-process (one subprocess run checks the -m entry)."""
import json
import signal
import subprocess
import sys
import time

from meta_rfft import shipped
from meta_rfft.tasks import formats, registry
from meta_rfft.tasks.cli import main, parse_lengths


def test_list_shows_every_task(capsys):
  assert main(["list"]) == 0
  out = capsys.readouterr().out
  for task in registry.all_tasks():
    assert task.id in out and task.length_meaning in out


def test_show_prints_the_example(capsys):
  assert main(["show", "nupa_add_integer", "--length", "3", "--format", "rf", "--seed", "4"]) == 0
  example = formats.make_example(registry.get_task("nupa_add_integer"), 3, 4, "rf")
  assert capsys.readouterr().out == example.inputs + example.targets + "\n"


def test_unknown_task_and_impossible_length_explain_themselves(capsys):
  assert main(["show", "nupa_add_integr", "--length", "3"]) == 2
  assert "did you mean nupa_add_integer" in capsys.readouterr().err
  assert main(["show", "bbh_hyperbaton", "--length", "1"]) == 2
  assert "valid lengths are 2..unbounded" in capsys.readouterr().err


def test_export_task_and_mixture(tmp_path):
  out = tmp_path / "x.jsonl"
  assert main(["export", "lc_258,sr_coin_flip", "--lengths", "1-2", "--num", "3", "--format", "scratchpad",
               "--out", str(out), "--seed", "10"]) == 0
  rows = [json.loads(line) for line in out.read_text().splitlines()]
  assert len(rows) == 2 * 2 * 3
  first = rows[0]
  assert set(first) == {"task", "length", "seed", "inputs", "targets", "answer"}
  task = registry.get_task(first["task"])
  expected = formats.make_example(task, first["length"], first["seed"], "scratchpad")
  assert (first["inputs"], first["targets"], first["answer"]) == (expected.inputs, expected.targets,
                                                                   expected.answer)
  mixture = tmp_path / "m.jsonl"
  assert main(["export", "rf_pretrain", "--lengths", "2", "--num", "1", "--format", "direct",
               "--out", str(mixture)]) == 0
  tasks = {json.loads(line)["task"] for line in mixture.read_text().splitlines()}
  assert tasks == {t.id for t in registry.tasks_in_split("rf_pretrain") if t.min_length <= 2}
  bad = tmp_path / "bad.jsonl"
  assert main(["export", "lc_258", "--lengths", "0-2", "--num", "1", "--out", str(bad)]) == 2
  assert not bad.exists()


def test_parse_lengths_and_module_entry_point():
  assert parse_lengths("1-3,7") == [1, 2, 3, 7]
  proc = subprocess.run([sys.executable, "-m", "meta_rfft.tasks", "show", "lc_258", "--length", "2"],
                        capture_output=True, text=True, cwd=str(shipped.REPO_ROOT))
  assert proc.returncode == 0 and "So the answer is" in proc.stdout


def test_export_stopped_by_sigterm_leaves_no_partial_file(tmp_path):
  out = tmp_path / "big.jsonl"
  proc = subprocess.Popen([sys.executable, "-m", "meta_rfft.tasks", "export", "rf_pretrain", "--lengths", "1-30",
                           "--num", "200", "--out", str(out)], cwd=str(shipped.REPO_ROOT),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 120
  while not list(tmp_path.glob("*.partial")):  # stopped while writing, not before
    assert proc.poll() is None and time.time() < deadline, proc.stderr.read()
    time.sleep(0.02)
  proc.send_signal(signal.SIGTERM)
  proc.communicate(timeout=60)
  assert proc.returncode == 143
  assert list(tmp_path.iterdir()) == []  # neither the output nor the temporary file
