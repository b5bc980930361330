"""The 66 LeetCode RF-pretraining tasks: rule == independent reference, deterministic samplers, sane specs."""
import ast
import copy
import importlib.util
import inspect
import pathlib
import random

import pytest

RULE_TASKS = pathlib.Path(__file__).resolve().parents[2] / "data" / "rule_tasks"
HELDOUT_LC = {"lc_258", "lc_283", "lc_125", "lc_2544", "lc_1598", "lc_3324", "lc_2677", "lc_461"}
PATHS = sorted(p for p in RULE_TASKS.glob("lc_*.py") if p.stem not in HELDOUT_LC)
SEEDS = 8


def _load(path):
  spec = importlib.util.spec_from_file_location(f"_test_lc_{path.stem}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.TASK


TASKS = {p.stem: _load(p) for p in PATHS}


def _lengths(task):
  return range(task.min_length, min(30, task.max_length or 30) + 1)


def test_all_66_leetcode_pretraining_tasks_are_present():
  assert len(TASKS) == 66
  for task_id, task in TASKS.items():
    assert task.id == task_id, f"{task_id}.py defines task {task.id!r}"
    assert (task.source, task.split) == ("leetcode", "rf_pretrain"), task_id


@pytest.mark.parametrize("task_id", sorted(TASKS))
def test_rule_matches_reference_at_every_length(task_id):
  task = TASKS[task_id]
  answers = set()
  for length in _lengths(task):
    for seed in range(SEEDS):
      instance = task.sample(random.Random(f"{task_id}/{length}/{seed}"), length)
      frozen = copy.deepcopy(instance)
      expected = task.reference(copy.deepcopy(instance))
      got = task.rule(**copy.deepcopy(instance))
      assert got == expected, f"{task_id} length {length} seed {seed}: rule {got!r} != reference {expected!r}"
      assert instance == frozen, f"{task_id}: reference or rule mutated the instance"
      answers.add(repr(got))
  # Both branches of a decision task, and many values of the others, must show up in the data.
  assert len(answers) >= 2, f"{task_id}: every sampled answer is {answers}"


@pytest.mark.parametrize("task_id", sorted(TASKS))
def test_sampler_is_deterministic_and_question_ends_with_instance(task_id):
  task = TASKS[task_id]
  for length in (task.min_length, min(task.max_length or 12, 12)):
    a = task.sample(random.Random(7), length)
    b = task.sample(random.Random(7), length)
    assert a == b, f"{task_id}: sampler is not deterministic at length {length}"
    params = list(inspect.signature(task.rule).parameters)
    assert list(a) == params, f"{task_id}: instance keys != rule parameters"
    last_key, last_value = list(a.items())[-1]
    assert task.question(a).endswith(f"{last_key} = {last_value!r}"), task_id
  with pytest.raises(ValueError, match=task_id):
    task.check_length(task.min_length - 1)


@pytest.mark.parametrize("task_id", sorted(TASKS))
def test_rule_stays_in_the_tracer_subset(task_id):
  # The tracer's own tests execute every registered rule; this catches the constructs it never accepts.
  source = inspect.getsource(TASKS[task_id].rule)
  tree = ast.parse(source)
  assert len(tree.body) == 1 and isinstance(tree.body[0], ast.FunctionDef), task_id
  fn = tree.body[0]
  assert not (isinstance(fn.body[0], ast.Expr) and isinstance(fn.body[0].value, ast.Constant)), "docstring"
  banned = (ast.Lambda, ast.FunctionDef, ast.ClassDef, ast.Try, ast.With, ast.Global, ast.Nonlocal,
            ast.Import, ast.ImportFrom, ast.GeneratorExp, ast.Yield, ast.DictComp, ast.SetComp)
  for node in ast.walk(fn):
    assert node is fn or not isinstance(node, banned), f"{task_id}: {type(node).__name__} in the rule"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
      assert node.func.id != fn.name, f"{task_id}: recursion"
  lines = [line for line in source.splitlines() if line.strip()]
  assert all(";" not in line for line in lines), f"{task_id}: several statements on one line"
  assert len(lines) <= 25, f"{task_id}: the rule has {len(lines)} lines; keep traces short"
