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

  # The default decoding on this CPU is prompt lookup: every sample records its model calls, and plain greedy
  # decoding writes the same outputs with one call per token.
  assert "decoding with prompt_lookup" in capsys.readouterr().out
  assert all(1 <= r["forwards"] <= r["new_tokens"] for r in first[1:])
  assert rep["formats"]["rf"]["overall"]["tokens_per_forward"] >= 1.0
  assert "Tokens generated per model call (prompt_lookup (k=8, n<=4) decoding)" in open(
      os.path.join(eval_dir, "report.md")).read()
  greedy_run = str(tmp_path / "greedy")
  assert main(_args(ckpt, greedy_run, "--config.decoding.method=greedy")) == 0
  greedy = _lines(os.path.join(greedy_run, "eval", "samples.jsonl"))
  assert [r["output"] for r in greedy[1:]] == [r["output"] for r in first[1:]]
  assert all(r["forwards"] == r["new_tokens"] for r in greedy[1:])

  # Interrupt: the last batch lost, a torn half-line at the end. Only that batch is decoded again.
  with open(samples_path) as f:
    lines = f.read().split("\n")
  with open(samples_path, "w") as f:
    f.write("\n".join(lines[:-2]) + "\n" + lines[-2][:40])
  capsys.readouterr()
  assert main(_args(ckpt, run)) == 0
  assert "resuming, 5 of 6 samples" in capsys.readouterr().out
  again = _lines(samples_path)
  assert [(r["batch"], r["output"]) for r in again[1:]] == [(r["batch"], r["output"]) for r in first[1:]]

  # Other generation settings would mix two evaluations in one report: refused, naming the file and the setting,
  # and leaving RUN/eval/ as it was (its config.json still the one that wrote the samples).
  with open(os.path.join(eval_dir, "config.json")) as f:
    saved_config = f.read()
  assert main(_args(ckpt, run, "--config.max_new_extra=9")) == 2
  err = capsys.readouterr().err
  assert "samples.jsonl was written with other settings" in err and "max_new_extra: 8 there, 9 now" in err
  with open(os.path.join(eval_dir, "config.json")) as f:
    assert f.read() == saved_config
  # So would another compute dtype (its outputs differ from float32's).
  assert main(_args(ckpt, run, "--config.model.dtype=bfloat16")) == 2
  assert "dtype: 'float32' there, 'bfloat16' now" in capsys.readouterr().err


def _sample_keys(rows):
  return [(r["format"], r["task"], r["length"], r["seed"]) for r in rows]


def test_resume_keys_samples_not_batches(ckpt, tmp_path, capsys):
  """A resume with another batch size, or after a batch whose last row was torn, decodes only the samples
  missing from samples.jsonl: every sample is reported once, with the output the uninterrupted run gave it."""
  full = str(tmp_path / "full")
  assert main(_args(ckpt, full)) == 0
  want = {k: r["output"] for k, r in zip(_sample_keys(_lines(os.path.join(full, "eval", "samples.jsonl"))[1:]),
                                          _lines(os.path.join(full, "eval", "samples.jsonl"))[1:])}
  assert len(want) == 6

  for name, keep_rows, torn, rerun in (("batch_size", 3, False, ["--config.batch_size=3"]),
                                       ("torn_batch", 4, True, [])):
    run = str(tmp_path / name)
    os.makedirs(os.path.join(run, "eval"))
    path = os.path.join(run, "eval", "samples.jsonl")
    with open(os.path.join(full, "eval", "samples.jsonl")) as f:
      lines = f.read().split("\n")
    # Header + the first rows; torn: the next row of the same batch half-written (rows 4 and 5 are length 2's
    # first batch of 2).
    with open(path, "w") as f:
      f.write("\n".join(lines[:1 + keep_rows]) + "\n" + (lines[1 + keep_rows][:30] if torn else ""))
    capsys.readouterr()
    assert main(_args(ckpt, run, *rerun)) == 0, name
    assert f"resuming, {keep_rows} of 6 samples" in capsys.readouterr().out
    rows = _lines(path)[1:]
    keys = _sample_keys(rows)
    assert len(keys) == 6 and set(keys) == set(want), name
    assert {k: r["output"] for k, r in zip(keys, rows)} == want, name
    rep = json.load(open(os.path.join(run, "eval", "report.json")))
    task = rep["formats"]["rf"]["tasks"][TASK]
    assert [task["lengths"][n]["count"] for n in ("1", "2")] == [3, 3], name


def test_duplicated_rows_of_an_older_file_are_counted_once(ckpt, tmp_path):
  run = str(tmp_path / "run")
  assert main(_args(ckpt, run)) == 0
  path = os.path.join(run, "eval", "samples.jsonl")
  with open(path) as f:
    lines = [ln for ln in f.read().split("\n") if ln.strip()]
  with open(path, "w") as f:  # what an earlier version's batch-keyed resume could leave: a batch written twice
    f.write("\n".join(lines + lines[1:3]) + "\n")
  assert main(_args(ckpt, run)) == 0
  rep = json.load(open(os.path.join(run, "eval", "report.json")))
  assert [rep["formats"]["rf"]["tasks"][TASK]["lengths"][n]["count"] for n in ("1", "2")] == [3, 3]
  assert len(_lines(path)) == 7  # the file itself is rewritten without the repeats


def test_evaluate_decodes_with_the_runs_random_position_ids(ckpt, tmp_path, capsys):
  """With randomized positions every sample is decoded with the ids drawn for it (whatever its batch), and the
  setting is part of what a resumed evaluation must match."""
  from meta_rfft.convert.sources import load_model
  from meta_rfft.data.positions import sequence_positions
  from meta_rfft.data.vocab import make_vocabulary
  from meta_rfft.evaluate import examples
  from meta_rfft.evaluate.decode import GreedyDecoder
  from meta_rfft.evaluate.samples import item_key
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
