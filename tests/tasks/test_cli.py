"""`python -m meta_rfft.tasks list | show | export`, in-process (one subprocess run checks the -m entry)."""
import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest

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


def _start_export(out):
  return subprocess.Popen([sys.executable, "-m", "meta_rfft.tasks", "export", "rf_pretrain", "--lengths", "1-30",
                           "--num", "200", "--out", str(out)], cwd=str(shipped.REPO_ROOT),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_partial(proc, folder):
  deadline = time.time() + 120
  while not list(folder.glob(".*.partial")):  # stopped while writing, not before
    assert proc.poll() is None and time.time() < deadline, proc.stderr.read()
    time.sleep(0.02)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_export_stopped_by_a_signal_leaves_no_partial_file(tmp_path, sig):
  out = tmp_path / "big.jsonl"
  proc = _start_export(out)
  _wait_for_partial(proc, tmp_path)
  proc.send_signal(sig)
  proc.communicate(timeout=60)
  assert proc.returncode == 128 + sig
  assert list(tmp_path.iterdir()) == []  # neither the output nor the temporary file


def test_a_killed_exports_partial_file_is_removed_by_the_next_and_outputs_are_ordinary_files(tmp_path):
  out = tmp_path / "big.jsonl"
  proc = _start_export(out)
  _wait_for_partial(proc, tmp_path)
  proc.kill()  # SIGKILL: nothing can clean up
  proc.communicate(timeout=60)
  assert len(list(tmp_path.glob(".*.partial"))) == 1
  old = os.umask(0o022)
  try:
    assert main(["export", "lc_258", "--lengths", "1-2", "--num", "2", "--out", str(out)]) == 0
  finally:
    os.umask(old)
  assert [p.name for p in tmp_path.iterdir()] == ["big.jsonl"]
  assert stat.S_IMODE(out.stat().st_mode) == 0o644
