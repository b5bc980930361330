"""Natural-language rules of the 12 held-out tasks and the `rf_nl` format (trace recites English steps)."""
import dataclasses
import random

import pytest

from meta_rfft.tasks import formats, nl_format, nl_rules, registry, tracer
from meta_rfft.tasks.answers import extract_answer, format_answer

HELDOUT = [t.id for t in registry.tasks_in_split("heldout")]


def test_every_heldout_task_has_an_english_rule():
  assert len(HELDOUT) == 12
  assert sorted(nl_rules.nl_task_ids()) == sorted(HELDOUT)
  for task_id in HELDOUT:
    task = nl_rules.with_nl_rule(registry.get_task(task_id))
    assert task.nl_rule == nl_rules.nl_rule_text(task_id)
    assert task.nl_rule.splitlines()[0].startswith("1. ")


@pytest.mark.parametrize("task_id", HELDOUT)
def test_rf_nl_trace_recites_the_step_of_each_executed_line(task_id):
  task = registry.get_task(task_id)
  steps = nl_format.parse_steps(task_id, nl_rules.nl_rule_text(task_id))
  mapping = nl_format.step_map(task)
  hi = min(30, task.max_length or 30)
  for length in range(task.min_length, hi + 1, 3):
    for seed in range(2):
      instance = formats.sample_instance(task, length, seed)
      example = formats.render(task, instance, "rf_nl", seed)
      assert example == formats.render(task, instance, "rf_nl", seed)
      assert "rule:\n" + nl_rules.nl_rule_text(task_id) + "\n" in example.inputs
      assert "def " not in example.inputs, "rf_nl must not show the code rule"
      expected = format_answer(task.reference(dict(instance)))
      assert example.answer == expected and extract_answer(example.targets) == expected, (task_id, length)
      # The recitals are, in order, the steps describing the lines the code trace executed.
      code_trace = tracer.trace_rule(task.rule, instance)
      recited = [line for line in example.targets.splitlines() if line in steps]
      assert recited == [mapping[s.lineno] for s in code_trace.steps], (task_id, length, seed)


def test_identical_code_lines_keep_their_own_step():
  # lc_3324's rule has `ans.append(cur)` twice (steps 5 and 8): the recital must follow the line that ran.
  task = registry.get_task("lc_3324")
  targets = formats.render(task, {"target": "ab"}, "rf_nl").targets
  lines = targets.splitlines()
  seventh = lines.index(next(line for line in lines if line.startswith("7. ")))
  after_seven = next(line for line in lines[seventh + 1:] if line[:1].isdigit() and ". " in line)
  assert after_seven.startswith("8. Append cur to ans."), after_seven
  assert "5. Append cur to ans." in lines


def test_rule_and_english_rule_out_of_step_is_an_error():
  task = registry.get_task("lc_258")
  short = dataclasses.replace(task, nl_rule="1. Return num.")
  with pytest.raises(ValueError, match="lc_258.*1 steps but the code rule has 6"):
    formats.render(short, {"num": 38}, "rf_nl")
  misnumbered = dataclasses.replace(task, nl_rule=nl_rules.nl_rule_text("lc_258").replace("3. ", "4. "))
  with pytest.raises(ValueError, match="lc_258.*should be step 3"):
    formats.render(misnumbered, {"num": 38}, "rf_nl")


def test_task_without_english_rule_is_named():
  task = registry.get_task("lc_2582")
  with pytest.raises(ValueError, match="lc_2582.*no natural-language rule"):
    formats.render(task, task.sample(random.Random(0), 3), "rf_nl")


def test_own_nl_rule_field_takes_precedence():
  task = registry.get_task("nupa_length_integer")
  own = "1. Start count at 0.\n2. Repeat while num > 0:\n  3. Drop a digit.\n  4. Count it.\n5. Give count."
  example = formats.render(dataclasses.replace(task, nl_rule=own), {"num": 123}, "rf_nl")
  assert "3. Drop a digit." in example.targets and example.answer == "3"
