"""Batches: the contract's layout, packing, dropping long examples, exact resumption, disjoint sharding."""
import logging

import ml_collections
import numpy as np
import pytest

from meta_rfft.config.defaults import tiny_arch
from meta_rfft.data import packing, pipeline
from meta_rfft.data import vocab as vocab_lib
from meta_rfft.model.config import from_hf_config
from meta_rfft.train import data_source

SEQ = 1024


def _examples(batch):
  """The packed examples of a batch: one (input_tokens, target_tokens, loss_weights) per segment."""
  out = []
  for r in range(batch["segment_ids"].shape[0]):
    seg = batch["segment_ids"][r]
    for s in range(1, seg.max() + 1):
      m = seg == s
      assert (batch["positions"][r][m] == np.arange(m.sum())).all()
      out.append((batch["input_tokens"][r][m], batch["target_tokens"][r][m], batch["loss_weights"][r][m]))
  return out


@pytest.fixture(scope="module")
def char():
  return vocab_lib.CharVocabulary()


def test_batch_contract_and_loss_on_targets_only(data_cfg, char):
  it = pipeline.make_batch_iterator(data_cfg, char, seq_len=2048, host_batch_size=3, seed=5)
  batch = next(it)
  assert {k: (v.shape, v.dtype.name) for k, v in batch.items()} == {
      "input_tokens": ((3, 2048), "int32"), "target_tokens": ((3, 2048), "int32"),
      "loss_weights": ((3, 2048), "float32"), "segment_ids": ((3, 2048), "int32"),
      "positions": ((3, 2048), "int32")}
  # What `compile_only` compiles the train step for, without reading any data, is exactly this layout.
  config = ml_collections.ConfigDict({"train": {"data_source": "pipeline"}, "data": {"seq_len": 2048,
                                                                                      "multi_turn": ""}})
  spec = data_source.example_batch(config, from_hf_config(tiny_arch(char.vocab_size)), 3)
  assert {k: (v.shape, v.dtype) for k, v in spec.items()} == {k: (v.shape, v.dtype) for k, v in batch.items()}
  pad = batch["segment_ids"] == 0
  assert (batch["loss_weights"][pad] == 0).all() and (batch["input_tokens"][pad] == char.pad_id).all()
  examples = _examples(batch)
  assert len(examples) > 3  # packing put several examples in a row
  for inp, tgt, w in examples:
    seq = np.concatenate([inp, tgt[-1:]])
    assert (inp[1:] == tgt[:-1]).all() and seq[0] == char.bos_id and seq[-1] == char.eos_id
    text = char.decode(seq[1:-1].tolist())
    prompt_len = 1 + len(char.encode(text[:text.index("\nA:\n") + 4]))
    assert (w == (np.arange(len(w)) >= prompt_len - 1)).all()
    answer_side = char.decode(tgt[w > 0].tolist())
    assert answer_side.startswith(text[text.index("\nA:\n") + 4:][:20]) and "So the answer is" in answer_side


def test_long_examples_are_dropped_counted_and_never_truncated(data_cfg, char, caplog):
  cfg = data_cfg.copy_and_resolve_references()
  cfg.pack = False
  cfg.mixture = "lc_258,sr_coin_flip,bbh_navigate"
  it = pipeline.make_batch_iterator(cfg, char, seq_len=700, host_batch_size=4, seed=0, num_epochs=1)
  kept = [e for b in it for e in _examples(b)]
  assert it.dropped_examples > 0 and kept and "longer than seq_len=700" in caplog.text
  for inp, tgt, _ in kept:
    assert tgt[-1] == char.eos_id and "So the answer is" in char.decode(tgt.tolist())
  total = 9 + 12 + 12  # every train example of the tiny build, read once
  assert len(kept) + it.dropped_examples == total


def test_packer_first_fit():
  p = packing.Packer(seq_len=10, pad_id=0, bins=2)
  ex = lambda n: {"input_tokens": np.arange(1, n + 1), "target_tokens": np.arange(2, n + 2),  # noqa: E731
                  "loss_weights": np.ones(n, np.float32)}
  assert p.add(ex(6)) == [] and p.add(ex(5)) == []  # two open rows
  assert p.add(ex(4)) and len(p.open) == 1  # fills row 1 exactly -> emitted
  rows = p.add(ex(7))  # fits in no open row (one is open, 5 used): a second row opens
  assert rows == [] and len(p.open) == 2
  (row,) = p.add(ex(8))  # fits nowhere and both bins open: the fullest (7) goes out
  assert row["segment_ids"].tolist() == [1] * 7 + [0] * 3 and row["positions"][:7].tolist() == list(range(7))
  assert p.add(ex(11)) == [] and p.dropped == 1


@pytest.mark.parametrize("vocab_kind,steps", [("char", (0, 2, 5)), ("hf", (3,))])
def test_restore_at_any_step_continues_exactly(data_cfg, tokenizer_dir, tmp_path, vocab_kind, steps):
  vocab = (vocab_lib.CharVocabulary() if vocab_kind == "char"
           else vocab_lib.make_vocabulary(str(tokenizer_dir / "tokenizer.json")))
  make = lambda: pipeline.make_batch_iterator(data_cfg, vocab, seq_len=SEQ, host_batch_size=2,  # noqa: E731
                                              seed=3)
  reference = make()
  expected = [next(reference) for _ in range(6)]
  for step in steps:
    it = make()
    for _ in range(step):
      next(it)
    it.save(tmp_path / f"{vocab_kind}_{step}")
    next(it)  # moving on after saving must not change what the restored iterator gives
    restored = make()
    restored.restore(tmp_path / f"{vocab_kind}_{step}")
    for want in expected[step:]:
      got = next(restored)
      assert all((got[k] == want[k]).all() for k in want), (vocab_kind, step)
  with pytest.raises(FileNotFoundError, match="process_0"):
    make().restore(tmp_path / "nothing")


def test_processes_read_disjoint_parts(data_cfg, char):
  cfg = data_cfg.copy_and_resolve_references()
  cfg.pack = False

  def rows(index, count):
    it = pipeline.make_batch_iterator(cfg, char, seq_len=4096, host_batch_size=4, process_index=index,
                                      process_count=count, seed=1, num_epochs=1)
    return [tuple(e[0].tolist()) for b in it for e in _examples(b)]

  whole, p0, p1 = rows(0, 1), rows(0, 2), rows(1, 2)
  assert sorted(whole) == sorted(p0 + p1)
  assert not set(p0) & set(p1) and p0 and p1
  with pytest.raises(ValueError, match="process_index 2"):
    pipeline.make_batch_iterator(cfg, char, seq_len=64, host_batch_size=1, process_index=2, process_count=2)
  partial = {k: v for k, v in cfg.to_dict().items() if k not in ("build", "pack_bins")}
  with pytest.raises(ValueError, match="missing pack_bins, build"):
    pipeline.make_batch_iterator(partial, char, seq_len=64, host_batch_size=1)


def test_a_shuffled_read_prints_no_restart_warning(data_cfg, char, caplog):
  """seqio warns that an uncached source reshuffles differently after a restart; the iterator's own state is
  checkpointed (test_restore_at_any_step_continues_exactly), so that warning does not apply and is not shown."""
  with caplog.at_level(logging.WARNING):
    next(pipeline.make_batch_iterator(data_cfg, char, seq_len=2048, host_batch_size=1, seed=7))
  assert not [r for r in caplog.records if "uncached FunctionDataset" in r.getMessage()]


def test_a_mixture_whose_examples_never_fit_is_refused_by_name(data_cfg, char):
  """Every example longer than data.seq_len is dropped; a repeated stream of only such examples would be read
  forever without a batch. It is refused, naming the mixture, seq_len and the shortest example."""
  it = pipeline.make_batch_iterator(data_cfg, char, seq_len=32, host_batch_size=1, seed=1)
  with pytest.raises(ValueError, match=r"mixture .*: none of its first 1000 examples fits data.seq_len=32 "
                                       r"\(the shortest has \d+ tokens\)"):
    next(it)
  assert it.dropped_examples == pipeline.NONE_FIT_AFTER
