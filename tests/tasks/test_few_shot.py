"""k-shot prompts: deterministic demonstrations, rf_1shot at k=1, never the test question, prefixes across k."""
import pytest

from meta_rfft.data import materialize
from meta_rfft.tasks import few_shot, formats, registry

SETTINGS = materialize.BuildSettings(seed=0, formats=(), task_formats={}, parts=())
TASKS = ("lc_283", "nupa_add_integer", "lc_1598", "bbh_navigate", "lc_2682")


def _zero_shot(task, length, k, fmt="rf"):
  seed = materialize.example_seed(SETTINGS, "test", k)
  return seed, formats.render(task, formats.sample_instance(task, length, seed), fmt, seed)


@pytest.mark.parametrize("task_id", TASKS)
def test_one_shot_in_rf_is_rf_1shot_and_draws_are_deterministic(task_id):
  task = registry.get_task(task_id)
  for length in (task.min_length + 2, task.min_length + 6):
    for k in range(3):
      seed, ex = _zero_shot(task, length, k)
      block = few_shot.split_prompt(ex.inputs)[1]
      demos = few_shot.demonstrations(task, "rf", seed, 1, block)
      one_shot = formats.render(task, formats.sample_instance(task, length, seed), "rf_1shot", seed)
      text = few_shot.prompt(ex.inputs, demos, few_shot.gold_answers(demos))
      shot = formats.render(task, formats.one_shot_instance(task, seed)[0], "rf")
      if few_shot.split_prompt(shot.inputs)[1] == block:
        assert text != one_shot.inputs  # rf_1shot shows the test question itself; the redraw does not
      else:
        assert text == one_shot.inputs
      three = few_shot.demonstrations(task, "rf", seed, 3, block)
      assert three == few_shot.demonstrations(task, "rf", seed, 3, block)  # fixed seeds: the same every time
      assert three[0] == demos[0]  # a smaller k shows a prefix of a larger k's demonstrations
      other = few_shot.demonstrations(task, "rf", f"{seed}~1", 3, block)
      assert [d.seed for d in other] != [d.seed for d in three]


def test_demonstrations_never_show_the_test_question_and_differ_where_they_can():
  task = registry.get_task("lc_2682")  # few short instances: rf_1shot's example is often the test question
  redrawn = repeated = 0
  for k in range(40):
    seed, ex = _zero_shot(task, task.min_length, k)
    block = few_shot.split_prompt(ex.inputs)[1]
    demos = few_shot.demonstrations(task, "rf", seed, 2, block)
    blocks = [few_shot.split_prompt(d.example.inputs)[1] for d in demos]
    assert block not in blocks
    repeated += len(set(blocks)) < 2  # allowed only where 20 redraws found no other short instance
    redrawn += demos[0].seed != str(seed)
    for d in demos:  # gold answers are the traces of the demonstrated instances
      assert d.example.targets.endswith("So the answer is " + d.example.answer)
  assert redrawn > 0  # rf_1shot's own example was the test question at least once: it was replaced
  assert repeated <= 2
  task = registry.get_task("lc_283")  # plenty of short instances: three different demonstrations every time
  for k in range(20):
    seed, ex = _zero_shot(task, 2, k)
    block = few_shot.split_prompt(ex.inputs)[1]
    blocks = {few_shot.split_prompt(d.example.inputs)[1] for d in few_shot.demonstrations(task, "rf", seed, 3, block)}
    assert len(blocks) == 3 and block not in blocks


def test_other_formats_keep_their_header_and_blocks():
  task = registry.get_task("lc_283")
  seed, ex = _zero_shot(task, 4, 0, "rf_index")
  demos = few_shot.demonstrations(task, "rf_index", seed, 2, few_shot.split_prompt(ex.inputs)[1])
  text = few_shot.prompt(ex.inputs, demos, ["A1", "A2"])
  header, block = few_shot.split_prompt(ex.inputs)
  assert text.startswith(header) and text.endswith(block) and text.count("\nQ: ") == 3
  assert "A:\nA1\n\nQ: " in text and "A:\nA2\n\nQ: " in text
  with pytest.raises(ValueError, match="2 demonstrations but 1 answers"):
    few_shot.prompt(ex.inputs, demos, ["A1"])
  with pytest.raises(ValueError, match="no line starting 'Q: '"):
    few_shot.split_prompt("no question here")
