"""Vocabulary round trips (Python and in-graph), also on arbitrary unicode, and special-token ids."""
import json

import hypothesis
import hypothesis.strategies as st
import pytest
import tensorflow as tf

from meta_rfft.data import vocab as vocab_lib


@pytest.fixture(scope="module")
def hf(tokenizer_dir):
  return vocab_lib.make_vocabulary(str(tokenizer_dir / "tokenizer.json"))


@pytest.fixture(scope="module")
def char():
  return vocab_lib.make_vocabulary("char")


@hypothesis.settings(max_examples=150, deadline=None)
@hypothesis.given(text=st.text(max_size=60))
def test_round_trip_arbitrary_unicode_python(hf, char, text):
  for v in (hf, char):
    ids = v.encode(text)
    assert all(0 <= i < v.vocab_size for i in ids)
    assert v.eos_id not in ids and v.pad_id not in ids
    assert v.decode(ids) == text
    assert v.decode(list(ids) + [v.eos_id, 5, 6]) == text  # decoding stops at EOS


@hypothesis.settings(max_examples=25, deadline=None)
@hypothesis.given(texts=st.lists(st.text(max_size=30), min_size=1, max_size=3))
def test_round_trip_arbitrary_unicode_in_graph(hf, char, texts):
  for v in (hf, char):
    ids = [v.encode_tf(tf.constant(t)) for t in texts]
    for t, i in zip(texts, ids):
      assert i.numpy().tolist() == list(v.encode(t))
    width = max(int(tf.size(i)) for i in ids)
    batch = tf.stack([tf.pad(i, [[0, width - tf.size(i)]], constant_values=v.pad_id) for i in ids])
    assert [s.decode() for s in v.decode_tf(batch).numpy()] == texts


def test_special_ids(hf, char, tokenizer_dir):
  assert (char.pad_id, char.eos_id, char.bos_id, char.vocab_size) == (0, 1, 2, 259)
  assert hf.eos_id == hf._tok.token_to_id("<|endoftext|>")
  assert hf.bos_id == hf._tok.token_to_id("<s>") and hf.pad_id == hf.eos_id
  # tokenizer_config.json beside tokenizer.json decides, as in a converted checkpoint.
  (tokenizer_dir / "tokenizer_config.json").write_text(json.dumps(
      {"eos_token": "<s>", "bos_token": None, "pad_token": "<|endoftext|>"}))
  try:
    v = vocab_lib.make_vocabulary(str(tokenizer_dir))
    assert (v.eos_id, v.bos_id, v.pad_id) == (hf.bos_id, None, hf.eos_id)
  finally:
    (tokenizer_dir / "tokenizer_config.json").unlink()
  with pytest.raises(ValueError, match="'<nope>' is not in"):
    vocab_lib.HfTokenizerVocabulary(tokenizer_dir, eos_token="<nope>")
  with pytest.raises(FileNotFoundError, match="tokenizer.json"):
    vocab_lib.make_vocabulary(str(tokenizer_dir / "missing"))
