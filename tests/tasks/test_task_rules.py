"""Every registered task: rule answer == reference answer == the answer the trace states, deterministically.

Parametrized over all registered tasks, so task modules added later are covered without editing this file.
Budget: 3 seeds at each length 1-30 plus 7 more seeds at lengths 1-5 (the adaptation lengths).
"""
import copy
import json
import os
import subprocess
import sys

import pytest

from meta_rfft import shipped
from meta_rfft.tasks import formats, nl_rules, registry
from meta_rfft.tasks.answers import extract_answer, format_answer
from meta_rfft.tasks.rule_program import analyse

TASK_IDS = registry.task_ids()
LENGTHS = range(1, 31)


def _lengths(task):
  hi = 30 if task.max_length is None else min(30, task.max_length)
  return [n for n in LENGTHS if task.min_length <= n <= hi]


def _seeds(length):
  return range(10) if length <= 5 else range(3)


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_rule_reference_and_trace_agree(task_id):
  task = registry.get_task(task_id)
  lengths = _lengths(task)
  assert lengths, f"{task_id}: no valid length in 1..30"
  for length in lengths:
    for seed in _seeds(length):
      instance = formats.sample_instance(task, length, seed)
      trace = formats.check_instance(task, instance)  # raises if the rule disagrees with the reference
      assert trace.answer == format_answer(task.rule(**copy.deepcopy(instance))), (task_id, length, seed)
      example = formats.render(task, formats.sample_instance(task, length, seed), "rf", seed)
      assert extract_answer(example.targets) == trace.answer, (task_id, length, seed)
      assert example.answer == trace.answer


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_every_format_renders_and_is_deterministic(task_id):
  task = registry.get_task(task_id)
  lengths = _lengths(task)
  for length in (lengths[0], lengths[len(lengths) // 2]):
    for fmt in formats.format_names():
      if fmt == "rf_nl" and task.nl_rule is None and task_id not in nl_rules.nl_task_ids():
        continue  # rf_nl needs an English rule; only the held-out tasks have one (tests/tasks/test_nl_rules.py)
      a = formats.make_example(task, length, 7, fmt)
      b = formats.make_example(task, length, 7, fmt)
      assert a == b, (task_id, length, fmt)
      assert a.targets.endswith("So the answer is " + a.answer)
      assert extract_answer(a.targets) == a.answer
      if fmt.startswith("rf") and fmt != "rf_nl":  # rf_nl shows the English rule instead of the code
        assert formats.rule_text(task) in a.inputs


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_one_shot_example_is_short(task_id):
  task = registry.get_task(task_id)
  _, trace = formats.one_shot_instance(task, 3)
  assert trace.loop_iterations < formats.ONE_SHOT_MAX_ITERATIONS, (
      f"{task_id}: no instance with fewer than {formats.ONE_SHOT_MAX_ITERATIONS} loop iterations at its "
      "shortest lengths")


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_task_metadata(task_id):
  task = registry.get_task(task_id)
  assert task.id == task_id
  program = analyse(task.rule)
  instance = formats.sample_instance(task, task.min_length, 0)
  assert set(instance) == set(program.params), f"{task_id}: instance keys must be the rule's parameters"
  assert task.question(instance).strip()
  with pytest.raises(ValueError, match=task_id):
    formats.sample_instance(task, 0, 0)


_DIGEST_SCRIPT = """
import hashlib, json, sys
from meta_rfft.tasks import formats, registry
h = {}
for task in registry.all_tasks():
  hi = 30 if task.max_length is None else min(30, task.max_length)
  parts = []
  for length in sorted({task.min_length, (task.min_length + hi) // 2, hi}):
    for fmt in ("rf", "rf_1shot", "scratchpad", "direct"):
      e = formats.make_example(task, length, 11, fmt)
      parts.append(e.inputs + e.targets)
  h[task.id] = hashlib.sha256("\\x00".join(parts).encode()).hexdigest()
print(json.dumps(h))
"""


def test_byte_identical_across_processes_and_hash_seeds():
  """Same seed, different interpreter and PYTHONHASHSEED: the same bytes (no dependence on set order)."""
  outs = []
  for hash_seed in ("1", "12345"):
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    proc = subprocess.run([sys.executable, "-c", _DIGEST_SCRIPT], env=env, capture_output=True, text=True,
                          check=True, cwd=str(shipped.REPO_ROOT))
    outs.append(json.loads(proc.stdout))
  assert outs[0] == outs[1], [k for k in outs[0] if outs[0][k] != outs[1].get(k)]
  assert set(outs[0]) == set(TASK_IDS)
