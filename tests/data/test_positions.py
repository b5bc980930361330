"""Randomized position ids: the draw itself, in packed training rows, and across an iterator save/restore."""
import numpy as np
import pytest

from meta_rfft.data import packing, pipeline, positions
from meta_rfft.data import vocab as vocab_lib

SEQ = 700


@pytest.fixture(scope="module")
def char():
  return vocab_lib.CharVocabulary()


def test_random_ids_are_sorted_distinct_in_range_and_keyed():
  for n, rng in ((1, 2), (50, 64), (300, 4096)):
    ids = positions.random_positions(n, rng, (3, 1, 4))
    assert ids.dtype == np.int32 and ids.shape == (n,)
    assert np.all(np.diff(ids) > 0) and ids.min() >= 0 and ids.max() < rng
    assert np.array_equal(ids, positions.random_positions(n, rng, (3, 1, 4)))
  a, b = positions.random_positions(200, 4096, (0, 1)), positions.random_positions(200, 4096, (0, 2))
  assert not np.array_equal(a, b)
  # Spread over the whole range, not bunched at its start (what makes long relative distances seen in training).
  assert a.max() > 3000 and a.min() < 1000
  assert np.array_equal(positions.sequence_positions("contiguous", 5, 0, ()), np.arange(5))


def test_bad_settings_are_named():
  with pytest.raises(ValueError, match=r"config.data.positions='shuffled' unknown"):
    positions.check("shuffled", 10)
  with pytest.raises(ValueError, match=r"config.data.positions='random' needs config.data.position_range"):
    positions.check("random", 0)
  with pytest.raises(ValueError, match="more than position_range=8"):
    positions.random_positions(9, 8, (0,))
  with pytest.raises(ValueError, match=r"position_range=100 is below data.seq_len=128"):
    packing.Packer(128, 0, positions="random", position_range=100)


def test_packed_rows_draw_ids_per_segment():
  p = packing.Packer(seq_len=40, pad_id=0, bins=1, positions="random", position_range=1000, seed=5)
  ex = lambda n: {"input_tokens": np.arange(1, n + 1), "target_tokens": np.arange(2, n + 2),  # noqa: E731
                  "loss_weights": np.ones(n, np.float32)}
  assert p.add(ex(15)) == [] and p.add(ex(20)) == []
  (row,) = p.add(ex(30))  # no room: the open row (two segments) is emitted
  for seg, n in ((1, 15), (2, 20)):
    ids = row["positions"][row["segment_ids"] == seg]
    assert len(ids) == n and np.all(np.diff(ids) > 0) and ids.max() < 1000
  assert not np.array_equal(row["positions"][:15], np.arange(15))
  assert np.all(row["positions"][row["segment_ids"] == 0] == 0)
  assert p.rows_emitted == 1
  # The same stream packed again gives the same ids; another seed other ids.
  q = packing.Packer(seq_len=40, pad_id=0, bins=1, positions="random", position_range=1000, seed=5)
  q.add(ex(15)), q.add(ex(20))
  assert np.array_equal(q.add(ex(30))[0]["positions"], row["positions"])
  r = packing.Packer(seq_len=40, pad_id=0, bins=1, positions="random", position_range=1000, seed=6)
  r.add(ex(15)), r.add(ex(20))
  assert not np.array_equal(r.add(ex(30))[0]["positions"], row["positions"])


def test_random_ids_are_restored_exactly(data_cfg, char, tmp_path):
  cfg = data_cfg.copy_and_resolve_references()
  cfg.positions, cfg.position_range = "random", 2048
  make = lambda: pipeline.make_batch_iterator(cfg, char, seq_len=SEQ, host_batch_size=2, seed=3)  # noqa: E731
  reference = make()
  expected = [next(reference) for _ in range(5)]
  for seg in (1, 2):
    ids = expected[0]["positions"][0][expected[0]["segment_ids"][0] == seg]
    if ids.size:
      assert np.all(np.diff(ids) > 0) and ids.max() < 2048 and ids.size < ids.max()
  it = make()
  for _ in range(2):
    next(it)
  it.save(tmp_path / "state")
  restored = make()
  restored.restore(tmp_path / "state")
  for want in expected[2:]:
    got = next(restored)
    assert all((got[k] == want[k]).all() for k in want)
