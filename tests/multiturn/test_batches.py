"""The multi-turn batch iterator: contract keys, no dense mask, same data for both methods, exact resume,
disjoint hosts, config errors. (One training step under both methods: test_trainer_multiturn.py.)"""
import numpy as np
import pytest

from meta_rfft.multiturn import token_layout as layout
from meta_rfft.multiturn.batches import MultiTurnBatches, from_data_config
from meta_rfft.multiturn.tokenize import tokenize_conversation

SEQ_LEN = 512
CONTRACT = ("input_tokens", "target_tokens", "loss_weights", "segment_ids", "positions")


@pytest.fixture(scope="module")
def tokenized(conversations, encoder):
  return [tokenize_conversation(c, encoder[0]) for c in conversations]


def one_epoch(tokenized, method, rows=4, **kw):
  return list(MultiTurnBatches(tokenized, method, rows, SEQ_LEN, repeat=False, **kw))


@pytest.mark.parametrize("method", ["single_pass", "n_pass"])
def test_batches_follow_the_contract(tokenized, method):
  batches = one_epoch(tokenized, method)
  extra = layout.VISIBILITY_KEYS if method == "single_pass" else ()
  for b in batches:
    assert set(b) == set(CONTRACT + extra)
    for k, v in b.items():  # per-token arrays only: no L x L mask anywhere
      assert v.shape == (4, SEQ_LEN), k
      assert v.dtype == (np.float32 if k == "loss_weights" else np.int32), k
    pad = b["segment_ids"] == 0
    assert not b["loss_weights"][pad].any()
    for k in extra:
      assert (b[k][pad] == 0).all() and (b[k][~pad] > 0).all()


def test_both_methods_train_the_same_tokens(tokenized):
  it = MultiTurnBatches(tokenized, "single_pass", 4, SEQ_LEN)
  assert it.dropped >= 1  # the fixture has a conversation longer than SEQ_LEN: dropped for both methods
  kept = [c for c in tokenized if layout.single_pass_length(c) <= SEQ_LEN]
  want = sum(layout.trained_tokens(c) for c in kept)
  for method in ("single_pass", "n_pass"):
    got = sum(b["loss_weights"].sum() for b in one_epoch(tokenized, method))
    assert got == want, method
  assert len(one_epoch(tokenized, "n_pass")) > len(one_epoch(tokenized, "single_pass"))


@pytest.mark.parametrize("method", ["single_pass", "n_pass"])
def test_resume_is_exact(tokenized, method, tmp_path):
  run = MultiTurnBatches(tokenized, method, 2, SEQ_LEN, seed=3)
  straight = [next(run) for _ in range(12)]  # more than one epoch
  first = MultiTurnBatches(tokenized, method, 2, SEQ_LEN, seed=3)
  for _ in range(5):
    next(first)
  first.save(str(tmp_path))
  resumed = MultiTurnBatches(tokenized, method, 2, SEQ_LEN, seed=3)
  resumed.restore(str(tmp_path))
  for i in range(5, 12):
    b = next(resumed)
    for k in b:
      np.testing.assert_array_equal(b[k], straight[i][k], err_msg=f"batch {i} key {k}")
  other_method = "n_pass" if method == "single_pass" else "single_pass"
  other = MultiTurnBatches(tokenized, other_method, 2, SEQ_LEN, seed=3)
  with pytest.raises(ValueError, match="method"):
    other.restore(str(tmp_path))


def test_a_batch_never_spans_two_epochs(tokenized):
  kept = [c for c in tokenized if layout.single_pass_length(c) <= SEQ_LEN]
  for method in ("single_pass", "n_pass"):
    it = MultiTurnBatches(tokenized, method, 64, SEQ_LEN, seed=1)
    for epoch in range(2):
      assert next(it)["loss_weights"].sum() == sum(layout.trained_tokens(c) for c in kept), (method, epoch)


def test_hosts_read_disjoint_conversations(tokenized):
  seen = []
  for p in range(2):
    it = MultiTurnBatches(tokenized, "single_pass", 4, SEQ_LEN, repeat=False, shuffle=False, process_index=p,
                          process_count=2)
    seen.append({tuple(turns[0].user[:120]) + tuple(turns[-1].reasoning) for turns in it.conversations})
  assert not seen[0] & seen[1]


def test_config_errors_name_the_key(tokenized, encoder, tmp_path):
  import ml_collections
  cfg = ml_collections.ConfigDict({"multi_turn": "one_pass", "conversations": ""})
  with pytest.raises(ValueError, match="config.data.multi_turn"):
    from_data_config(cfg, encoder[0], 2, SEQ_LEN)
  cfg.multi_turn = "single_pass"
  with pytest.raises(ValueError, match="config.data.conversations"):
    from_data_config(cfg, encoder[0], 2, SEQ_LEN)
