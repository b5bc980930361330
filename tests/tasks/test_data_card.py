"""data/DATA_CARD.md is generated from the registry and stays in step with it."""
import importlib.util
import pathlib
import subprocess
import sys

from meta_rfft import shipped
from meta_rfft.tasks import formats, registry

DATA = pathlib.Path(__file__).resolve().parents[2] / "data"


def _rows():
  rows = {}
  for line in (DATA / "DATA_CARD.md").read_text().splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if line.startswith("| ") and len(cells) == 9 and cells[0] not in ("id", "---"):
      rows[cells[0]] = cells
  return rows


def test_card_lists_every_task_as_registered():
  rows = _rows()
  tasks = registry.all_tasks()
  assert len(tasks) == 86 and len(registry.tasks_in_split("rf_pretrain")) == 74
  assert set(rows) == {t.id for t in tasks} | {"synthetic"}, "regenerate: python data/make_data_card.py"
  for t in tasks:
    _, name, source, split, length, _, at5, at15, at30 = rows[t.id]
    assert (name, source, split, length) == (t.name, t.source, t.split, t.length_meaning), t.id
    assert all(v == "n/a" or int(v) > 0 for v in (at5, at15, at30)), t.id
  assert "## How to add a task" in (DATA / "DATA_CARD.md").read_text()


def test_trace_length_is_the_mean_rf_target_length():
  spec = importlib.util.spec_from_file_location("make_data_card", DATA / "make_data_card.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  task = registry.get_task("lc_1275")  # valid lengths 1..9
  expected = sum(len(formats.make_example(task, 5, s, "rf").targets) for s in range(3)) / 3
  assert module.mean_trace_chars(task, 5, 3) == str(round(expected))
  assert module.mean_trace_chars(task, 15, 3) == "n/a"


def test_tasks_list_shows_86_tasks_74_for_rf_pretraining():
  out = subprocess.run([sys.executable, "-m", "meta_rfft.tasks", "list"], capture_output=True, text=True,
                       check=True, cwd=str(shipped.REPO_ROOT)).stdout.splitlines()
  rows = [line.split() for line in out[1:] if line.strip()]
  assert len(rows) == 86
  assert sum("rf_pretrain" in row for row in rows) == 74
  assert sum(row[0].startswith("lc_") and "rf_pretrain" in row for row in rows) == 66
