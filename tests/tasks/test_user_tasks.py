"""Users' own rule tasks (`config.data.user_tasks`, meta_rfft/tasks/user_tasks.py): loaded once, validated
against their reference, rolled back when broken, seen by child processes, the CLI, data builds, evaluation
and the pipeline."""
import json
import os
import re
import sys
import textwrap

import pytest

from meta_rfft import shipped
from meta_rfft.data import materialize
from meta_rfft.data.config import default_data_config
from meta_rfft.tasks import formats, registry, user_tasks
from meta_rfft.tasks.cli import main as tasks_main

EXAMPLE = str(shipped.REPO_ROOT / "data" / "examples" / "baggage_fees.py")

COUNT_MODULE = """
from meta_rfft.tasks.spec import RuleTask

def count_items(xs):
  n = 0
  for x in xs:
    n += 1
  {bug}
  return n

TASKS = [RuleTask(id="{id}", name="Count", source="symbolic", split="heldout", length_meaning="list length",
                  rule=count_items, sample=lambda rng, n: {{"xs": [rng.randint(0, 9) for _ in range(n)]}},
                  question=lambda inst: f"How many items? {{inst}}", reference=lambda inst: len(inst["xs"]))]
"""


def _count_module(path, task_id="user_count", bug="n = n"):
  path.write_text(textwrap.dedent(COUNT_MODULE).format(id=task_id, bug=bug))
  return str(path)


def test_example_module_validates_registers_and_is_exported():
  (task,) = user_tasks.load_user_tasks(EXAMPLE)
  assert registry.get_task("baggage_fees") is task and task in registry.tasks_in_split("heldout")
  assert user_tasks.load_user_tasks(f"{EXAMPLE}, {EXAMPLE}") == [task]  # a no-op, not "already registered"
  assert os.environ[registry.ENV_VAR] == EXAMPLE  # for processes started afresh; once
  instance = {"weights": [20, 23, 24, 32, 33]}  # 35 + 45 + (150 + 100) + (150 + 100) + (150 + 200)
  assert formats.check_instance(task, instance).answer == "930"
  reference = task.reference(formats.sample_instance(task, 4, 0))
  assert formats.make_example(task, 4, 0, "rf").targets.endswith(f"So the answer is {reference}")
  assert user_tasks.source_digest(task) and user_tasks.source_digest(registry.get_task("lc_258")) is None


def test_a_task_whose_rule_disagrees_is_named_and_not_left_registered(tmp_path):
  path = (tmp_path / "buggy_count.py").resolve()
  good = _count_module(tmp_path / "good_count.py", "user_good_count")
  _count_module(path, "user_buggy_count", bug="if n == 7:\n    n -= 1")
  with pytest.raises(ValueError) as e:
    user_tasks.load_user_tasks(f"{good},{path}")
  assert (f"config.data.user_tasks: task 'user_buggy_count' of {path}, length 7, seed 0: rule answer 6 != "
          "reference answer 7 on instance {'xs': [") in str(e.value)
  for task_id in ("user_good_count", "user_buggy_count"):  # the whole call is undone
    with pytest.raises(ValueError, match="unknown task"):
      registry.get_task(task_id)
  assert registry.ENV_VAR not in os.environ and registry.module_name(path) not in sys.modules
  _count_module(path, "user_buggy_count")  # fixed: loads in the same process
  assert [t.id for t in user_tasks.load_user_tasks(str(path))] == ["user_buggy_count"]


@pytest.mark.parametrize("source, message", [
    ("raise RuntimeError('half-written module')", "failed to import: RuntimeError: half-written module"),
    (COUNT_MODULE.replace("rng.randint(0, 9) for", "rng.randint(0, 9) // (n - 4) for"),
     "length 4, seed 0: sample\\(\\) raised ZeroDivisionError"),
    (COUNT_MODULE.replace("n += 1", "n += 1 // (x - x)"),
     "length 1, seed 0: the rule raised ZeroDivisionError"),
])
def test_bad_modules_are_named_errors(tmp_path, source, message):
  path = tmp_path / "bad_module.py"
  path.write_text(textwrap.dedent(source).format(id="user_bad", bug="n = n"))
  where = re.escape(str(path.resolve()))
  prefix = f"^my.key: (task module {where} |task 'user_bad' of {where}, )"
  with pytest.raises(ValueError, match=prefix + message):
    user_tasks.load_user_tasks(str(path), "my.key")
  assert "user_bad" not in registry.task_ids() and registry.ENV_VAR not in os.environ
  with pytest.raises(ValueError, match=f"my.key: task module {tmp_path}/absent.py does not exist"):
    user_tasks.load_user_tasks(f"{tmp_path}/absent.py", "my.key")


def test_two_modules_of_one_file_name_and_a_module_loaded_twice(tmp_path):
  for folder, task_id in (("a", "user_count_a"), ("b", "user_count_b")):
    (tmp_path / folder).mkdir()
    _count_module(tmp_path / folder / "mine.py", task_id)
  spec = f"{tmp_path / 'a' / 'mine.py'},{tmp_path / 'b' / 'mine.py'}"
  tasks = user_tasks.load_user_tasks(spec)
  assert [t.id for t in tasks] == ["user_count_a", "user_count_b"]
  assert user_tasks.load_user_tasks(spec) == tasks  # a second load in the same process is a no-op


@pytest.mark.parametrize("bad_id", ["a/b", "..", "my task", "x\ny", ""])
def test_task_ids_that_could_name_paths_are_refused_naming_the_module(tmp_path, bad_id):
  path = _count_module(tmp_path / "odd_ids.py", task_id=bad_id.replace("\n", "\\n"))
  with pytest.raises(ValueError, match=r"task id .* from .*odd_ids.py: use letters, digits and '_' only"):
    user_tasks.load_user_tasks(path)
  assert registry.ENV_VAR not in os.environ


LONG_BUG = "if len(xs) > 30:\n    n += 1"  # the rule disagrees with the reference above length 30 only


def test_every_path_that_writes_instances_checks_them_beyond_the_validated_lengths(tmp_path, capsys):
  path = _count_module(tmp_path / "long_bug.py", "user_long_bug", bug=LONG_BUG)
  user_tasks.load_user_tasks(path)  # lengths 1-30 agree
  out = tmp_path / "export.jsonl"
  assert tasks_main(["export", "user_long_bug", "--lengths", "30-32", "--num", "2", "--out", str(out)]) == 2
  err = capsys.readouterr().err
  assert "task 'user_long_bug': rule answer 32 != reference answer 31" in err, err
  assert not out.exists() and not list(tmp_path.glob("*partial*"))
  from meta_rfft.evaluate import examples
  with pytest.raises(ValueError, match="config.tasks: task 'user_long_bug': rule answer 32 != reference answer 31"):
    examples.make_batches(["rf"], [registry.get_task("user_long_bug")], [31], 1, 4)


def test_a_reference_that_never_returns_is_named(tmp_path, capsys, monkeypatch):
  monkeypatch.setattr(formats, "REFERENCE_TIME_LIMIT_S", 0.3)
  path = tmp_path / "endless.py"
  path.write_text("def endless(inst):\n  while True:\n    pass\n\n" + textwrap.dedent(COUNT_MODULE.replace(
      'reference=lambda inst: len(inst["xs"])', "reference=endless")).format(id="user_endless", bug="n = n"))
  assert tasks_main(["list", "--user_tasks", str(path)]) == 2
  assert "task 'user_endless': reference() did not return within 0.3 s" in capsys.readouterr().err


def test_cli_shows_and_exports_user_tasks(tmp_path, capsys):
  assert tasks_main(["show", "baggage_fees", "--length", "2", "--user_tasks", EXAMPLE]) == 0
  assert "def baggage_fees(weights):" in capsys.readouterr().out
  out = tmp_path / "fees.jsonl"
  assert tasks_main(["export", "baggage_fees", "--lengths", "1-3", "--num", "2", "--out", str(out),
                     "--user_tasks", EXAMPLE]) == 0
  rows = [json.loads(line) for line in out.read_text().splitlines()]
  task = registry.get_task("baggage_fees")
  assert len(rows) == 6 and {r["task"] for r in rows} == {"baggage_fees"}
  assert all(r["answer"] == str(task.reference(formats.sample_instance(task, r["length"], r["seed"])))
             for r in rows)
  assert tasks_main(["list", "--user_tasks", str(tmp_path / "nope.py")]) == 2
  assert f"error: --user_tasks: task module {tmp_path}/nope.py does not exist" in capsys.readouterr().err


def test_build_name_follows_user_task_source_and_keeps_built_in_names(tmp_path):
  build = default_data_config().build
  build.tasks = "lc_258"
  builtin = materialize.resolve(build)
  path = _count_module(tmp_path / "edited_count.py")
  user_tasks.load_user_tasks(path)
  assert materialize.resolve(build) == builtin and not builtin.sources  # built-in builds keep their names
  build.tasks = "lc_258,user_count"
  first = materialize.resolve(build)
  assert first.sources and first.name != builtin.name
  with open(path, "a") as f:
    f.write("# edited\n")
  assert materialize.resolve(build).name != first.name
  with pytest.raises(ValueError, match="changed since this process loaded it"):
    user_tasks.load_user_tasks(path)


def test_defaults_are_off():
  from meta_rfft.evaluate.config import default_eval_config
  from meta_rfft.pipeline.config import default_config
  assert default_data_config().user_tasks == "" and default_eval_config().user_tasks == ""
  assert default_config().data.user_tasks == ""
  assert user_tasks.load_user_tasks("") == [] and registry.ENV_VAR not in os.environ


def test_evaluation_finds_the_runs_user_tasks(tmp_path):
  from meta_rfft.data import run_record
  from meta_rfft.evaluate import examples, run_settings
  run = tmp_path / "run"
  run.mkdir()
  (run / "config.json").write_text(json.dumps({"config": {"data": {"user_tasks": EXAMPLE}}}))  # an older run
  assert [t.id for t in examples.load_user_tasks("", run_settings.user_tasks_of(str(run)))] == ["baggage_fees"]
  run_record.write(run, run_record.RunRecord(user_tasks=EXAMPLE))  # a run with its record
  assert run_settings.user_tasks_of(str(run)) == EXAMPLE
  assert [t.id for t in examples.select_tasks("baggage_fees")] == ["baggage_fees"]
  with pytest.raises(ValueError, match="^config.user_tasks: task module .*absent.py does not exist"):
    examples.load_user_tasks(str(tmp_path / "absent.py"), EXAMPLE)
  with pytest.raises(ValueError, match="^the trained run's data.user_tasks: task module .*absent.py"):
    examples.load_user_tasks("", str(tmp_path / "absent.py"))


def test_pipeline_stages_carry_user_tasks(tmp_path, monkeypatch):
  from meta_rfft.pipeline import job, stages
  from meta_rfft.pipeline.config import default_config
  monkeypatch.chdir(shipped.REPO_ROOT)
  cfg = default_config()
  cfg.data.user_tasks = "data/examples/baggage_fees.py"  # relative here, absolute in every stage's config
  cfg.heldout_tasks, cfg.pretrain_tasks, cfg.pretrained = "baggage_fees", "lc_2057", "train"
  assert job.check_config(cfg)[3] == ["baggage_fees"]
  train = stages.train_config(cfg, cfg.adapt, init="ckpt", mixture="baggage_fees",
                              build_tasks=["lc_2057", "baggage_fees"], pretrain_lengths="1-2",
                              data_dir=str(tmp_path), seed=0)
  assert train.data.user_tasks == EXAMPLE
  assert job._eval_config(cfg, "Meta-RFFT", "baggage_fees").user_tasks == EXAMPLE
  settings = materialize.resolve(train.data.build)
  assert settings.parts_of("baggage_fees") and [s[0] for s in settings.sources] == ["baggage_fees"]


def test_data_build_and_child_processes_see_user_tasks(tmp_path, capsys):
  import subprocess

  from meta_rfft.data import tfds_data
  from meta_rfft.data.__main__ import main as data_main
  split = "--config.data.build.splits.{}.heldout.{}={}"
  args = [f"--config={shipped.REPO_ROOT / 'configs' / 'data.py'}", f"--config.data.data_dir={tmp_path}",
          f"--config.data.user_tasks={EXAMPLE}", "--config.data.build.tasks=baggage_fees",
          split.format("train", "lengths", "1-2"), split.format("train", "per_length", 2),
          split.format("validation", "per_length", 0), split.format("test", "per_length", 0)]
  assert data_main(args) == 0
  path = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(str(tmp_path)))
  assert tfds_data.num_examples(path, "baggage_fees", "train") == 4
  # A build that meets an instance the rule gets wrong stops with one line naming it, and leaves no dataset
  # folder behind.
  buggy = _count_module(tmp_path / "long_bug.py", "user_long_bug", bug=LONG_BUG)
  bad = [a.replace(EXAMPLE, buggy).replace("baggage_fees", "user_long_bug").replace("1-2", "31-32") for a in args]
  data = tmp_path / "bad_build"
  bad[1] = f"--config.data.data_dir={data}"
  assert data_main(bad) == 2
  err = capsys.readouterr().err
  assert "error: data.build: task 'user_long_bug', split train, length 31, seed" in err and "rule answer" in err
  assert not (data / "meta_rfft_tfds").exists()
  # A process started afresh (no config handed to it) finds the task through the exported environment.
  script = "from meta_rfft.tasks import registry; print(registry.get_task('baggage_fees').split)"
  out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                       cwd=str(tmp_path)).stdout
  assert out.strip() == "heldout"

