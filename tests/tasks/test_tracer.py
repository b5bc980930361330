"""The tracer on small hand-checked rules, the supported-subset checks, answers and the registry."""
import dataclasses
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

from meta_rfft import shipped
from meta_rfft.tasks import answers, registry, tracer
from meta_rfft.tasks.answers import extract_answer, format_answer
from meta_rfft.tasks.rule_program import RuleError, analyse


def _load(tmp_path: pathlib.Path, name: str, source: str):
  path = tmp_path / f"{name}.py"
  path.write_text(textwrap.dedent(source))
  ns = {}
  exec(compile(path.read_text(), str(path), "exec"), ns)  # a real file, so inspect.getsource works
  return ns[name]


def test_trace_of_add_digits_is_exactly_the_documented_format(tmp_path):
  fn = _load(tmp_path, "add_digits", """
      def add_digits(num):
        while num > 9:
          total = 0
          for d in str(num):
            total += int(d)
          num = total
        return num
      """)
  trace = tracer.trace_rule(fn, {"num": 28})
  expected = """\
while num > 9:
num = 28
enter the loop
total = 0
for d in str(num):
num = 28
enter the loop
-> d = '2'
total += int(d)
total = 0, d = '2'
-> total = 2
for d in str(num):
enter the loop
-> d = '8'
total += int(d)
total = 2, d = '8'
-> total = 10
for d in str(num):
do not enter
num = total
total = 10
-> num = 10
while num > 9:
num = 10
enter the loop
total = 0
for d in str(num):
num = 10
enter the loop
-> d = '1'
total += int(d)
total = 0, d = '1'
-> total = 1
for d in str(num):
enter the loop
-> d = '0'
total += int(d)
total = 1, d = '0'
-> total = 1
for d in str(num):
do not enter
num = total
total = 1
-> num = 1
while num > 9:
num = 1
do not enter
return num
num = 1
So the answer is 1"""
  assert tracer.render_rf(trace) == expected
  assert trace.loop_iterations == 6
  # The scratchpad keeps every write, also the ones a recited line states (`total = 0`).
  assert tracer.render_scratchpad(trace).splitlines()[:3] == ["total = 0", "d = '2'", "total = 2"]


def test_branches_subscripts_long_values_and_in_place_edits(tmp_path):
  fn = _load(tmp_path, "first_big", """
      def first_big(nums, limit):
        i = 0
        while i < len(nums) and nums[i] <= limit:
          i += 1
        if i == len(nums):
          return -1
        nums[i] = 0
        return i
      """)
  nums = [3, 1, 4, 1, 5, 9, 2, 6]
  trace = tracer.trace_rule(fn, {"nums": nums, "limit": 4})
  text = tracer.render_rf(trace)
  assert nums == [3, 1, 4, 1, 5, 9, 2, 6], "the rule must run on a copy of the instance"
  assert trace.result == 4 and text.endswith("So the answer is 4")
  assert "nums[i] = 5" in text  # subscripts read by a line are shown with their value
  # The long list is shown once while unchanged, then again after the line that edits it.
  assert text.count("nums = [3, 1, 4, 1, 5, 9, 2, 6]") == 1
  assert "-> nums = [3, 1, 4, 1, 0, 9, 2, 6]" in text
  assert "if i == len(nums):\ni = 4\nFalse" in text
  assert text.count("enter the loop") == 4 and text.count("do not enter") == 1


@pytest.mark.parametrize("body,why", [
    ("  def g():\n    return 1\n  return g()", "nested functions"),
    ("  f = lambda v: v\n  return f(x)", "lambdas"),
    ("  try:\n    y = 1\n  except Exception:\n    y = 2\n  return y", "try/except"),
    ("  y = 1; z = 2\n  return y", "one statement per source line"),
    ("  y = (x +\n       1)\n  return y", "fit on one source line"),
    ("  return helper(x)", "'helper'"),
    ("  import math\n  return x", "imports"),
])
def test_unsupported_rules_are_rejected_naming_rule_and_line(tmp_path, body, why):
  fn = _load(tmp_path, "bad_rule", "def bad_rule(x):\n" + body + "\n")
  with pytest.raises(RuleError, match=f"bad_rule.*{why}"):
    analyse(fn)


def test_instance_keys_must_match_parameters(tmp_path):
  fn = _load(tmp_path, "inc", "def inc(x):\n  return x + 1\n")
  with pytest.raises(ValueError, match="inc.*missing"):
    tracer.trace_rule(fn, {"y": 1})


def test_format_and_extract_answer():
  assert format_answer(12) == "12" and format_answer(True) == "True" and format_answer(None) == "None"
  assert format_answer("ab") == "'ab'" and format_answer([1, "a"]) == "[1, 'a']"
  assert format_answer((1,)) == "(1,)" and format_answer({"a": [1]}) == "{'a': [1]}"
  assert format_answer({3, 1, 2}) == "{1, 2, 3}" and format_answer(set()) == "set()"
  # The first answer counts: what follows it (more answers, an invented next question) does not.
  assert extract_answer("x\nSo the answer is 4\nSo the answer is [1, 2] \nmore") == "4"
  assert extract_answer("trace\nQ: next?\nA: So the answer is 3") is None
  assert extract_answer("no answer here") is None
  with pytest.raises(TypeError, match="object"):
    format_answer(object())


def test_registry_unknown_id_lists_nearest_and_user_modules_register(tmp_path):
  with pytest.raises(ValueError, match="did you mean.*lc_258"):
    registry.get_task("lc_259")
  path = tmp_path / "my_user_task.py"
  path.write_text(textwrap.dedent("""
      from meta_rfft.tasks.spec import RuleTask

      def count_a(s):
        n = 0
        for c in s:
          if c == 'a':
            n += 1
        return n

      TASK = RuleTask(id="user_count_a", name="Count a", source="synthetic", split="rf_pretrain",
                      length_meaning="string length", rule=count_a,
                      sample=lambda rng, n: {"s": "".join(rng.choice("ab") for _ in range(n))},
                      question=lambda inst: f"Count the a's in {inst['s']!r}.",
                      reference=lambda inst: inst["s"].count("a"))
      """))
  (task,) = registry.load_task_module(str(path))
  try:
    assert registry.get_task("user_count_a") is task
    assert task in registry.tasks_in_split("rf_pretrain")
    assert tracer.trace_rule(task.rule, {"s": "aba"}).answer == "2"
    with pytest.raises(ValueError, match="already registered"):
      registry.register_task(dataclasses.replace(task), origin="elsewhere.py")
  finally:
    registry.unregister_task("user_count_a")  # other tests count the registered tasks
  with pytest.raises(ValueError, match="unknown task 'user_count_a'"):
    registry.get_task("user_count_a")


def test_env_var_modules_register_and_a_broken_module_fails_loudly(tmp_path):
  good = tmp_path / "env_task.py"
  good.write_text(textwrap.dedent("""
      from meta_rfft.tasks.spec import RuleTask

      def count_b(s):
        n = 0
        for c in s:
          if c == 'b':
            n += 1
        return n

      TASK = RuleTask(id="env_count_b", name="Count b", source="synthetic", split="heldout",
                      length_meaning="string length", rule=count_b,
                      sample=lambda rng, n: {"s": "".join(rng.choice("ab") for _ in range(n))},
                      question=lambda inst: f"Count the b's in {inst['s']!r}.",
                      reference=lambda inst: inst["s"].count("b"))
      """))
  bad = tmp_path / "broken_task.py"
  bad.write_text("raise RuntimeError('half-written module')\n")
  script = ("from meta_rfft.tasks import registry\n"
            "for _ in range(2):\n"
            "  try:\n"
            "    print(registry.get_task('env_count_b').id)\n"
            "  except ImportError as e:\n"
            "    print('ImportError', e)\n")
  run = lambda mods: subprocess.run(  # noqa: E731
      [sys.executable, "-c", script], capture_output=True, text=True, cwd=str(shipped.REPO_ROOT),
      env=dict(os.environ, META_RFFT_TASK_MODULES=mods), check=True).stdout.splitlines()
  assert run(str(good)) == ["env_count_b", "env_count_b"]
  out = run(f"{good},{bad}")
  assert len(out) == 2 and all(line.startswith("ImportError") and "broken_task.py" in line for line in out)


@pytest.mark.parametrize("text, strict, lenient", [
    ("So the answer is [1, 2]", "[1, 2]", "[1, 2]"),
    ("trace\nSo the answer is 7\nQ: a new question\nA:\nSo the answer is 9", "7", "7"),
    ("So the answer is 7.\n", "7.", "7"),
    ("The answer is: **[1,2]**", None, "[1,2]"),
    ("A: 42\nmore words", None, "42"),
    ("\n\n  'abc'  \n", None, "'abc'"),
    ("Q: invented\nSo the answer is 3", None, None),
    ("", None, None),
])
def test_answer_rule_reads_the_first_answer_strictly_or_leniently(text, strict, lenient):
  rule = answers.DEFAULT_RULE
  assert rule.parse(text, "strict") == strict
  assert rule.parse(text, "lenient") == lenient
  assert rule.matches(rule.parse("The answer is [1,2]", "lenient"), "[1, 2]", "lenient")
  assert not rule.matches("[1,2]", "[1, 2]", "strict")
  with pytest.raises(ValueError, match="answer_parse must be one of"):
    rule.parse(text, "loose")
