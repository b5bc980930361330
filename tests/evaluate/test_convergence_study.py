"""`python -m meta_rfft.evaluate convergence` end to end on tiny converted checkpoints: every arm on the same
questions through the evaluator's scorer, SampleGen prompts built from the tuned model's text, resume, and the
named errors that write nothing."""
import json
import os
import shutil

import pytest

from meta_rfft.evaluate.__main__ import main
from meta_rfft.tasks.answers import extract_answer

pytestmark = pytest.mark.heavy  # started first: see tests/conftest.py

TASKS = "nupa_length_integer,nupa_get_digit_integer"
ARMS = ("base_d", "gold_k1", "gold_k2", "samplegen_k1", "samplegen_k2")


@pytest.fixture(scope="module")
def models(tiny_eval_checkpoint, tmp_path_factory):
  """The base (tests/conftest.py), a "tuned" model with the same tokenizer in another folder (other random
  weights), and a model with another tokenizer."""
  from meta_rfft.convert import hf_to_orbax
  from meta_rfft.pipeline import hf_build
  root = tmp_path_factory.mktemp("convergence_models")
  tuned_hf = root / "tuned_hf"
  shutil.copytree(os.path.join(tiny_eval_checkpoint, "hf"), tuned_hf)
  for name in ("config.json", "model.safetensors", "generation_config.json"):
    (tuned_hf / name).unlink(missing_ok=True)
  vocab = json.load(open(os.path.join(tiny_eval_checkpoint, "hf", "config.json")))["vocab_size"]
  hf_build.build_qwen2(str(tuned_hf), vocab_size=vocab, eos_token_id=0, hidden_size=32, num_layers=2, num_heads=4,
                       num_kv_heads=2, intermediate_size=64, init_std=0.2, seed=7)
  other_hf = root / "other_hf"
  other_vocab = hf_build.train_tokenizer(["Q: a b c d e f", "So the answer is 1 2 3"], str(other_hf), 300)
  hf_build.build_qwen2(str(other_hf), vocab_size=other_vocab, eos_token_id=0, hidden_size=32, num_layers=2,
                       num_heads=4, num_kv_heads=2, intermediate_size=64)
  return {"base": tiny_eval_checkpoint, "tuned": hf_to_orbax(str(tuned_hf), str(root / "tuned")),
          "other": hf_to_orbax(str(other_hf), str(root / "other"))}


def _args(models, workdir, *extra, tuned=None):
  # Two tuned runs: one for a named task, one for the rest.
  tuned = tuned or f"nupa_get_digit_integer={models['base']},{models['tuned']}"
  return ["convergence", "--config=configs/convergence.py", f"--workdir={workdir}",
          f"--config.base={models['base']}", f"--config.tuned={tuned}", f"--config.tasks={TASKS}",
          "--config.seen_tasks=nupa_get_digit_integer", "--config.lengths=1-2", "--config.samples_per_length=2",
          "--config.ks=1,2", "--config.batch_size=4", "--config.max_new_tokens=16",
          "--config.bootstrap.resamples=200", *extra]


def _rows(path):
  with open(path) as f:
    lines = [json.loads(line) for line in f if line.strip()]
  return lines[0]["header"], lines[1:]


def test_study_arms_report_and_resume(models, tmp_path):
  work = tmp_path / "study"
  assert main(_args(models, work)) == 0
  out = work / "convergence"
  for name in ("report.json", "report.md", "config.json", "scatter_all.png", "scatter_seen.png",
               "scatter_heldout.png", "accuracy_all.png"):
    assert (out / name).stat().st_size > 0, name
  files = {arm: out / "arms" / arm / "samples.jsonl" for arm in ARMS}
  rows = {arm: _rows(path)[1] for arm, path in files.items()}
  runs = sorted(p.name for p in (out / "arms" / "direct").iterdir())
  assert len(runs) == 2 and runs == sorted(p.name for p in (out / "arms" / "demos").iterdir())
  for run in runs:
    files[f"direct/{run}"] = out / "arms" / "direct" / run / "samples.jsonl"
  rows["direct"] = [r for run in runs for r in _rows(files[f"direct/{run}"])[1]]

  # Identical questions in every arm: the same (task, length, seed) keys and references, and every prompt ends
  # with the zero-shot prompt's question block.
  questions = {(r["task"], r["length"], r["seed"]): r for r in rows["base_d"]}
  assert len(questions) == 2 * 2 * 2
  for arm, arm_rows in rows.items():
    assert {(r["task"], r["length"], r["seed"]): r["reference"] for r in arm_rows} == \
        {k: r["reference"] for k, r in questions.items()}, arm
    for r in arm_rows:
      block = questions[(r["task"], r["length"], r["seed"])]["prompt"].rsplit("\nQ: ", 1)[1]
      assert r["prompt"].endswith("\nQ: " + block)
      # the evaluator's scorer: exact match of the answer extracted from the output
      assert r["correct"] == (extract_answer(r["output"]) is not None and extract_answer(r["output"]) == r["reference"])
  # Gold k=1 in the rf format is rf_1shot's prompt; k=2 adds a second worked example.
  from meta_rfft.tasks import formats, registry
  for r in rows["gold_k1"]:
    task = registry.get_task(r["task"])
    one_shot = formats.render(task, formats.sample_instance(task, r["length"], r["seed"]), "rf_1shot", r["seed"])
    shot = formats.render(task, formats.one_shot_instance(task, r["seed"])[0], "rf")
    if shot.inputs != questions[(r["task"], r["length"], r["seed"])]["prompt"]:  # else few_shot redraws it
      assert r["prompt"] == one_shot.inputs
  assert all(r["prompt"].count("\nQ: ") == 3 for r in rows["gold_k2"])
  # SampleGen: the demonstrations' answers are the tuned model's outputs (arm `demos`), not the gold traces.
  demos = [d for run in runs for d in _rows(out / "arms" / "demos" / run / "samples.jsonl")[1]]
  assert demos and all(d["format"] == "rf" for d in demos)
  outputs = [d["output"] for d in demos]
  for r in rows["samplegen_k2"]:
    # "Q: <question>\nA:\n<output>\n\n" per demonstration; the split consumed the last newline
    shown = [part.split("\nA:\n", 1)[1][:-1] for part in r["prompt"].split("\nQ: ")[1:-1]]
    assert len(shown) == 2 and all(text in outputs for text in shown)

  rep = json.load(open(out / "report.json"))
  assert set(rep["groups"]) == {"all", "seen", "heldout"}
  assert rep["groups"]["seen"] == ["nupa_get_digit_integer"]
  for arm in ARMS + ("direct",):
    for task in TASKS.split(","):
      for n in ("1", "2"):
        cell = rep["accuracy"][arm][task][n]
        got = [r["correct"] for r in rows[arm] if r["task"] == task and r["length"] == int(n)]
        assert cell["count"] == len(got) == 2 and cell["accuracy"] == sum(got) / 2
  assert set(rep["correlations"]["all"]) == {"direct~base_d", "direct~gold_k1", "direct~gold_k2",
                                             "direct~samplegen_k1", "direct~samplegen_k2"}
  assert "Gold (k=2)" in open(out / "report.md").read()

  # A rerun decodes nothing; an interrupted arm (its last rows lost, a torn line) is completed.
  before = {arm: open(p).read() for arm, p in files.items()}
  assert main(_args(models, work)) == 0
  assert {arm: open(p).read() for arm, p in files.items()} == before
  text = before["gold_k2"].split("\n")
  with open(files["gold_k2"], "w") as f:
    f.write("\n".join(text[:-3]) + "\n" + text[-3][:30])
  assert main(_args(models, work)) == 0
  assert sorted(json.dumps(r, sort_keys=True) for r in _rows(files["gold_k2"])[1]) == \
      sorted(json.dumps(r, sort_keys=True) for r in rows["gold_k2"])

  # A resume under settings that change the prompts is refused, naming them, before anything is decoded.
  report = open(out / "report.json").read()
  assert main(_args(models, work, "--config.demo_seed=3")) == 2
  assert open(out / "report.json").read() == report
  assert {arm: open(p).read() for arm, p in files.items()} == before


@pytest.mark.parametrize("case", ["missing_run", "vocab", "unknown_task", "task_without_run"])
def test_bad_inputs_are_named_and_write_nothing(models, tmp_path, capsys, case):
  work = tmp_path / "study"
  if case == "missing_run":
    args, expect = _args(models, work, tuned=str(tmp_path / "nowhere")), "config.tuned"
  elif case == "vocab":
    args, expect = _args(models, work, tuned=models["other"]), "another vocabulary"
  elif case == "unknown_task":
    args, expect = _args(models, work, "--config.tasks=nupa_length_integer,no_such_task"), "no_such_task"
  else:
    args = _args(models, work, tuned=f"nupa_length_integer={models['tuned']}")
    expect = "no tuned run for task 'nupa_get_digit_integer'"
  assert main(args) == 2
  err = capsys.readouterr().err
  assert expect in err and err.startswith("error: ")
  assert not work.exists()


def test_every_arm_renders_one_template_date(tmp_path):
  from meta_rfft.evaluate.convergence import runs
  from meta_rfft.evaluate.convergence.config import default_convergence_config

  def run(name, date):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"config": {"data": {"chat_template": "hf", "chat_date": date}}}))
    return runs.TunedRun(str(folder), name, ("lc_283",))

  base_samples = str(tmp_path / "study" / "base_d.jsonl")
  a, b, c = run("a", "2024-07-26"), run("b", "2024-07-26"), run("c", "2025-01-02")
  cfg = default_convergence_config()
  runs.keep_chat_date(cfg, [a, b], base_samples)  # the tuned runs' date, for the base model too
  assert cfg.chat_date == "2024-07-26"
  cfg = default_convergence_config()
  with pytest.raises(ValueError, match=r"config.tuned: the tuned runs were trained with chat template dates "
                                       r"\['2024-07-26', '2025-01-02'\]; .* set config.chat_date"):
    runs.keep_chat_date(cfg, [a, c], base_samples)
  cfg.chat_date = "2023-03-03"  # set: kept, whatever the runs trained with
  runs.keep_chat_date(cfg, [a, c], base_samples)
  assert cfg.chat_date == "2023-03-03"
  # A resumed study keeps the date its Base-D samples began with.
  os.makedirs(os.path.dirname(base_samples))
  with open(base_samples, "w") as f:
    f.write(json.dumps({"header": {"chat": {"date": "2022-02-02"}}}) + "\n")
  cfg = default_convergence_config()
  runs.keep_chat_date(cfg, [a, c], base_samples)
  assert cfg.chat_date == "2022-02-02"
