"""`meta_rfft.tart evaluate` on text: a user's JSONL embedded by a converted checkpoint, every embedding mode, the
LM's own k-shot answer and logistic regression on the same features, all in the report; label words the LM cannot
tell apart are a named error before any work."""
from __future__ import annotations

import importlib.util
import json
import pathlib

import pytest

from meta_rfft.tart.evaluate import evaluate
from meta_rfft.tart.train import train

ROOT = pathlib.Path(__file__).resolve().parents[2]
WORDS = ["cat", "dog", "red", "sun", "one", "two", "tree", "moon"]


def _config(**eval_keys):
  spec = importlib.util.spec_from_file_location("tart_config_text", ROOT / "configs" / "tart.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config("tiny")
  c.train.steps, c.train.checkpoint_every = 2, 2
  c.eval.ks, c.eval.seeds, c.eval.test_size, c.eval.datasets, c.eval.synthetic_tasks = (4, 6), (42, 69), 5, (), 0
  for key, value in eval_keys.items():
    c.eval[key] = value
  return c


@pytest.fixture(scope="module")
def text_run(tmp_path_factory, tiny_eval_checkpoint):
  root = tmp_path_factory.mktemp("tart_text")
  lines = [json.dumps({"text": f"{WORDS[i % 8]} {WORDS[(3 * i) % 8]} {i}", "label": i % 2}) for i in range(16)]
  (root / "data.jsonl").write_text("\n".join(lines) + "\n")
  train(_config(), str(root / "head"), log=lambda *_: None)
  return root, tiny_eval_checkpoint


def test_text_evaluation_reports_every_mode_and_the_lm_baseline(text_run):
  root, ckpt = text_run
  c = _config(checkpoint=ckpt, jsonl=str(root / "data.jsonl"), label_words="= no,the yes")
  result = evaluate(c, str(root / "head"), ["test"], log=lambda *_: None)
  methods = {e["method"] for e in result["summary"] if e["dataset"] == "jsonl:data.jsonl"}
  assert methods == {"tart_stream", "tart_vanilla", "tart_loo", "logreg_stream", "logreg_vanilla", "logreg_loo",
                     "icl"}
  for e in result["summary"]:
    assert e["seeds"] == 2 and 0.0 <= e["mean"] <= 1.0, e
  assert (root / "head" / "tart_eval" / "report.md").is_file()


def test_label_words_sharing_a_first_token_are_named_before_any_work(text_run):
  root, ckpt = text_run
  out = root / "head2"
  train(_config(), str(out), log=lambda *_: None)
  c = _config(checkpoint=ckpt, jsonl=str(root / "data.jsonl"))  # " negative", " positive": same first token here
  with pytest.raises(ValueError, match="start with the same token"):
    evaluate(c, str(out), ["test"], log=lambda *_: None)
  assert not (out / "tart_eval").exists()


def test_a_bad_jsonl_line_is_named_before_any_work(text_run, tmp_path):
  root, ckpt = text_run
  bad = tmp_path / "bad.jsonl"
  bad.write_text('{"text": "a", "label": 0}\n{"text": "b", "label": 2}\n')
  c = _config(checkpoint=ckpt, jsonl=str(bad), label_words="= no,the yes")
  with pytest.raises(ValueError, match=rf"{bad}:2: "):
    evaluate(c, str(root / "head"), ["test"], log=lambda *_: None)
