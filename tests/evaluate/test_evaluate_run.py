"""`python -m meta_rfft.evaluate` on a converted checkpoint: reports written, interrupted runs resumed."""
import json
import os

import pytest

from meta_rfft.evaluate.__main__ import main

TASK = "nupa_length_integer"


@pytest.fixture
def ckpt(tiny_eval_checkpoint):
  return tiny_eval_checkpoint  # tests/conftest.py


def _args(ckpt, workdir, *extra):
  return ["--config=configs/eval.py", f"--workdir={workdir}", f"--config.checkpoint={ckpt}",
          f"--config.tasks={TASK}", "--config.lengths=1-2", "--config.samples_per_length=3",
          "--config.batch_size=2", "--config.max_new_extra=8", *extra]


def _lines(path):
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def test_evaluate_writes_reports_and_resumes(ckpt, tmp_path, capsys):
  run = str(tmp_path / "run")
  assert main(_args(ckpt, run)) == 0
  eval_dir = os.path.join(run, "eval")
  for name in ("report.json", "report.md", "samples.jsonl", "accuracy_vs_length.png"):
    assert os.path.getsize(os.path.join(eval_dir, name)) > 0
  rep = json.load(open(os.path.join(eval_dir, "report.json")))
  task = rep["formats"]["rf"]["tasks"][TASK]
  assert [task["lengths"][k]["count"] for k in ("1", "2")] == [3, 3]
  assert task["longest_length"] == 2 and "loop_error_mean" in task["lengths"]["2"]
  samples_path = os.path.join(eval_dir, "samples.jsonl")
  first = _lines(samples_path)
  assert len(first) == 7 and "header" in first[0]  # header + 6 samples in 4 batches (2+1 per length)
  assert {r["batch"] for r in first[1:]} == {f"rf/{TASK}/{n}/{s}" for n in (1, 2) for s in (0, 2)}

  # Interrupt: the last batch lost, a torn half-line at the end. Only that batch is decoded again.
  with open(samples_path) as f:
    lines = f.read().split("\n")
  with open(samples_path, "w") as f:
    f.write("\n".join(lines[:-2]) + "\n" + lines[-2][:40])
  capsys.readouterr()
  assert main(_args(ckpt, run)) == 0
  assert "resuming, 3 of 4 batches" in capsys.readouterr().out
  again = _lines(samples_path)
  assert [(r["batch"], r["output"]) for r in again[1:]] == [(r["batch"], r["output"]) for r in first[1:]]

  # Other generation settings would mix two evaluations in one report: refused, naming the file.
  assert main(_args(ckpt, run, "--config.max_new_extra=9")) == 2
  assert "samples.jsonl was written with other settings" in capsys.readouterr().err


def test_evaluate_decodes_with_the_runs_random_position_ids(ckpt, tmp_path, capsys):
  """With randomized positions every sample is decoded with the ids drawn for it (whatever its batch), and the
  setting is part of what a resumed evaluation must match."""
  from meta_rfft.convert.sources import load_model
  from meta_rfft.data.positions import sequence_positions
  from meta_rfft.data.vocab import make_vocabulary
  from meta_rfft.evaluate import examples
  from meta_rfft.evaluate.decode import GreedyDecoder
  from meta_rfft.evaluate.runner import item_key
  from meta_rfft.sharding.mesh import make_mesh
  from meta_rfft.sharding.rules import DEFAULT_RULES
  import jax
  run = str(tmp_path / "run")
  assert main(_args(ckpt, run, "--config.positions=random", "--config.position_range=700")) == 0
  rows = _lines(os.path.join(run, "eval", "samples.jsonl"))
  assert rows[0]["header"]["positions"] == {"mode": "random", "range": 700}
  items = {(it.length, it.seed): it for b in examples.make_batches(
      ["rf"], examples.select_tasks(TASK), [1, 2], 3, 2) for it in b.items}
  mesh = make_mesh((1, 1, 1), devices=jax.devices()[:1])
  model = load_model(ckpt, mesh, DEFAULT_RULES)
  vocab = make_vocabulary(os.path.join(ckpt, "hf"))
  decoder = GreedyDecoder(model, eos_ids=vocab.eos_id, pad_id=vocab.pad_id, batch_size=1)
  for r in rows[1:4]:
    item = items[(r["length"], r["seed"])]
    prompt = [vocab.bos_id] * (vocab.bos_id is not None) + list(vocab.encode(item.inputs))
    limit = int(1.5 * (len(vocab.encode(item.targets)) + 1)) + 8  # the runner's: max_new_factor, max_new_extra
    ids = sequence_positions("random", len(prompt) + limit, 700, item_key(item, 0))
    out = decoder.decode([prompt], limit, [ids])[0]
    assert vocab.decode([t for t in out if t != vocab.eos_id]) == r["output"]
  capsys.readouterr()
  assert main(_args(ckpt, run, "--config.positions=random", "--config.position_range=800")) == 2
  assert "written with other settings" in capsys.readouterr().err
