"""The one-shot synthetic set: composed list-editing programs, their traces and one-shot exemplars."""
import json
import os
import random
import subprocess
import sys

import pytest

from meta_rfft import shipped
from meta_rfft.tasks import formats, registry, snippet_tasks
from meta_rfft.tasks.answers import extract_answer
from meta_rfft.tasks.rule_program import analyse
from meta_rfft.tasks.snippets import KEEP, SHRINK, SNIPPETS


def test_about_two_dozen_snippets_all_used():
  assert 20 <= len(SNIPPETS) <= 30 and KEEP and SHRINK
  used = set()
  for index in range(snippet_tasks.NUM_PROGRAMS):
    used.update(s.name for s in snippet_tasks._program_parts(index)[4])
  assert used == {s.name for s in SNIPPETS}


def test_every_program_agrees_with_the_snippet_implementations():
  # Direct execution of all programs (cheap); the code of each snippet vs its independent `apply`.
  for index in range(snippet_tasks.NUM_PROGRAMS):
    task = snippet_tasks.task(index)
    rng = random.Random(index)
    for length in (1, 2, 5, 15):
      instance = task.sample(rng, length)
      assert task.rule(**{k: list(v) for k, v in instance.items()}) == task.reference(instance), (
          snippet_tasks.program_source(index), instance)


def test_programs_are_valid_rules_with_random_names():
  names = set()
  for index in range(0, snippet_tasks.NUM_PROGRAMS, 37):
    program = analyse(snippet_tasks.program(index))
    assert program.source == snippet_tasks.program_source(index)
    assert program.source.splitlines()[2].lstrip().startswith("while ") and " and " in program.source
    names.add(program.params)
  assert len(names) > 50


@pytest.mark.parametrize("seed", range(12))
def test_sample_has_a_one_shot_exemplar_and_a_correct_trace(seed):
  length = 1 + seed
  example = snippet_tasks.make_example(length, seed)
  assert example == snippet_tasks.make_example(length, seed)
  index = snippet_tasks.program_index(seed)
  task = snippet_tasks.task(index)
  instance = formats.sample_instance(task, length, seed)
  trace = formats.check_instance(task, instance)  # raises if the traced rule disagrees with the reference
  assert example.answer == trace.answer == extract_answer(example.targets)
  assert example.inputs.count("\nQ: ") == 2, "the exemplar's question, then the real question"
  shot = example.inputs.split("\nQ: ")[1]
  assert "So the answer is " in shot and shot.count("enter the loop") < formats.ONE_SHOT_MAX_ITERATIONS
  assert snippet_tasks.program_source(index).rstrip() in example.inputs and task.id == f"synthetic_{index}"


def test_synthetic_programs_stay_out_of_the_task_catalogue():
  snippet_tasks.make_example(3, 0)
  assert not [t for t in registry.all_tasks() if t.source == "synthetic"]


def test_bad_program_index_is_named():
  with pytest.raises(ValueError, match="synthetic program index 4096"):
    snippet_tasks.program(snippet_tasks.NUM_PROGRAMS)


_DIGEST = """
import hashlib, json
from meta_rfft.tasks import snippet_tasks
parts = [snippet_tasks.make_example(1 + s % 15, s) for s in range(40)]
print(json.dumps(hashlib.sha256(repr(parts).encode()).hexdigest()))
"""


def test_same_bytes_across_processes_and_hash_seeds():
  digests = []
  for hash_seed in ("3", "4242"):
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    out = subprocess.run([sys.executable, "-c", _DIGEST], env=env, capture_output=True, text=True, check=True,
                         cwd=str(shipped.REPO_ROOT))
    digests.append(json.loads(out.stdout))
  assert digests[0] == digests[1]
