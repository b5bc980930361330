"""The recall corpus: what an example holds, the loss mask, determinism, and exact resume of its batches."""
import re

import numpy as np
import pytest

from meta_rfft.data import recall
from meta_rfft.data import vocab as vocab_lib


def test_examples_recall_exactly_what_the_prompt_holds():
  lengths = []
  for k in range(200):
    prompt, target = recall.example(7, k, 30)
    assert prompt.startswith(recall.PROMPT_HEAD + "\n") and prompt.endswith(recall.RECALL_HEAD + "\n")
    given = dict(line.split(" = ", 1) for line in prompt.split("\n")[1:-2])
    asked = [line.split(" = ", 1) for line in target.split("\n")]
    assert 2 <= len(asked) <= len(given)
    assert all(given[name] == value for name, value in asked)
    for value in given.values():
      elements = re.findall(r"\d+", value) if value.startswith("[") else value.strip("'")
      lengths.append(len(elements) if value.startswith(("[", "'")) else len(value))
  assert min(lengths) == 1 and max(lengths) == 30  # the whole range of lengths occurs
  assert recall.example(7, 3, 30) == recall.example(7, 3, 30) != recall.example(8, 3, 30)


def test_batches_mask_the_prompt_and_resume_exactly(tmp_path):
  char = vocab_lib.CharVocabulary()
  make = lambda: recall.RecallBatches(char, 2, 600, max_length=12, seed=3)  # noqa: E731
  it = make()
  batches = [next(it) for _ in range(4)]
  b = batches[0]
  assert set(b) == {"input_tokens", "target_tokens", "loss_weights", "segment_ids", "positions"}
  for seg in range(1, b["segment_ids"][0].max() + 1):
    m = b["segment_ids"][0] == seg
    text = char.decode(b["input_tokens"][0][m].tolist())
    trained = char.decode(b["target_tokens"][0][m][b["loss_weights"][0][m] > 0].tolist())
    assert text.startswith(recall.PROMPT_HEAD) and recall.RECALL_HEAD not in trained
    assert text.split(recall.RECALL_HEAD + "\n", 1)[1] in trained  # the loss is on the recalled lines (+ EOS)
    assert (b["positions"][0][m] == np.arange(m.sum())).all()
  assert not np.array_equal(batches[0]["input_tokens"], batches[1]["input_tokens"])
  it.save(str(tmp_path))
  again = make()
  again.restore(str(tmp_path))
  want = make()
  for _ in range(4):
    next(want)
  for _ in range(2):
    got, ref = next(again), next(want)
    assert all(np.array_equal(got[k], ref[k]) for k in ref)
  with pytest.raises(ValueError, match=r"saved with \{'seed': 3, 'max_length': 12\}"):
    recall.RecallBatches(char, 2, 600, max_length=20, seed=3).restore(str(tmp_path))
  with pytest.raises(ValueError, match="does not fit data.seq_len=40"):
    next(recall.RecallBatches(char, 2, 40, max_length=12, seed=3))
