"""Vocabularies: a byte-level character vocabulary and one over a Hugging Face `tokenizer.json`.

Both are `seqio.Vocabulary` objects exposing `bos_id` (None if the vocabulary has none), `eos_id`, `pad_id`,
`vocab_size`, and encode/decode in Python and in the tf.data graph.

- `CharVocabulary`: for models trained from scratch. Ids 0 = PAD, 1 = EOS, 2 = BOS, 3..258 = the UTF-8
  bytes 0..255, so every string round-trips (ASCII text costs one token per character). All in-graph ops.
- `HfTokenizerVocabulary`: the tokenizer that comes with a converted checkpoint. The graph ops call the
  Rust tokenizer through `tf.numpy_function(..., stateful=False)`: encoding is a pure function of its
  input, and declaring it so lets tf.data checkpoint iterators without the external-state IGNORE policy
  (a default, stateful py_function makes iterator saving fail with "EagerPyFunc is stateful").
  Special tokens: given explicitly, else read from `tokenizer_config.json` beside the tokenizer.json
  (`eos_token`, `bos_token`, `pad_token`), else the usual names (`<|endoftext|>`, `</s>`, ...). PAD falls
  back to EOS (padding never carries loss, its id only has to be valid).

`make_vocabulary(spec)`: "char" or a path to a tokenizer.json (or to the directory holding it).
"""
from __future__ import annotations

import hashlib
import json
import pathlib
from typing import Iterable, Sequence

import numpy as np
import seqio
import tensorflow as tf
import tokenizers

from meta_rfft import io_paths

_EOS_NAMES = ("<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>", "<|eot_id|>", "<|im_end|>")
_BOS_NAMES = ("<s>", "<|begin_of_text|>", "<bos>")


class CharVocabulary(seqio.Vocabulary):
  """UTF-8 byte vocabulary: PAD 0, EOS 1, BOS 2, byte b -> 3 + b."""

  OFFSET = 3

  def __init__(self):
    super().__init__(extra_ids=0)
    self._byte_strings = tf.constant([bytes([b]) for b in range(256)])

  @property
  def bos_id(self) -> int:
    return 2

  @property
  def eos_id(self) -> int:
    return 1

  @property
  def pad_id(self) -> int:
    return 0

  @property
  def unk_id(self) -> None:
    return None

  @property
  def _base_vocab_size(self) -> int:
    return self.OFFSET + 256

  def _encode(self, s: str) -> list[int]:
    return [b + self.OFFSET for b in s.encode("utf-8")]

  def _decode(self, ids: Iterable[int]) -> str:
    data = bytes(i - self.OFFSET for i in ids if self.OFFSET <= i < self.OFFSET + 256)
    return data.decode("utf-8", errors="replace")

  def _encode_tf(self, s: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.io.decode_raw(s, tf.uint8), tf.int32) + self.OFFSET

  def _decode_tf(self, ids: tf.Tensor) -> tf.Tensor:
    ids = tf.convert_to_tensor(ids)
    keep = (ids >= self.OFFSET) & (ids < self.OFFSET + 256)
    pieces = tf.where(keep, tf.gather(self._byte_strings, tf.clip_by_value(ids - self.OFFSET, 0, 255)), b"")
    return tf.strings.reduce_join(pieces, axis=-1)

  def __eq__(self, other):
    return isinstance(other, CharVocabulary)

  def __hash__(self):
    return hash("CharVocabulary")


def _token_id(tok: tokenizers.Tokenizer, token: str | None, path: pathlib.Path, role: str) -> int | None:
  if token is None:
    return None
  token_id = tok.token_to_id(token)
  if token_id is None:
    raise ValueError(f"{path}: the {role} token {token!r} is not in the tokenizer's vocabulary")
  return token_id


def _config_token(config: dict, key: str) -> str | None:
  value = config.get(key)
  return value.get("content") if isinstance(value, dict) else value


class HfTokenizerVocabulary(seqio.Vocabulary):
  """A seqio Vocabulary over a Hugging Face `tokenizers` tokenizer.json."""

  _UNSET = object()

  def __init__(self, path: str | pathlib.Path, eos_token: str | None = None, bos_token=_UNSET,
               pad_token: str | None = None):
    super().__init__(extra_ids=0)
    # A local file, or an object in a bucket (gs://...: a trainer run's hf/ folder there) read through
    # etils.epath; the tokenizer is built from the file's text, so both read the same way.
    path = io_paths.resolve(path) if io_paths.is_url(path) else pathlib.Path(path)
    if path.is_dir():
      path = path / "tokenizer.json"
    if not path.is_file():
      raise FileNotFoundError(f"tokenizer.json not found at {path}")
    self._path = path
    self._tok = tokenizers.Tokenizer.from_str(path.read_text())
    config = {}
    config_path = path.parent / "tokenizer_config.json"
    if config_path.is_file():
      config = json.loads(config_path.read_text())
    vocab = self._tok.get_vocab(with_added_tokens=True)
    eos_token = eos_token or _config_token(config, "eos_token") or next(
        (n for n in _EOS_NAMES if n in vocab), None)
    if eos_token is None:
      raise ValueError(f"{path}: cannot tell the EOS token; pass eos_token= or add tokenizer_config.json")
    if bos_token is self._UNSET:
      bos_token = (_config_token(config, "bos_token") if "bos_token" in config
                   else next((n for n in _BOS_NAMES if n in vocab), None))
    pad_token = pad_token or _config_token(config, "pad_token")
    self._eos = _token_id(self._tok, eos_token, path, "EOS")
    self._bos = _token_id(self._tok, bos_token, path, "BOS")
    self._pad = _token_id(self._tok, pad_token, path, "PAD") if pad_token else self._eos
    self._size = self._tok.get_vocab_size(with_added_tokens=True)

  @property
  def path(self) -> pathlib.Path:
    return self._path

  def special_ids(self) -> frozenset[int]:
    """Ids of the tokenizer's special added tokens (control tokens such as a chat template's end of turn)."""
    return frozenset(i for i, t in self._tok.get_added_tokens_decoder().items() if t.special)

  @property
  def bos_id(self) -> int | None:
    return self._bos

  @property
  def eos_id(self) -> int:
    return self._eos

  @property
  def pad_id(self) -> int:
    return self._pad

  @property
  def unk_id(self) -> int | None:
    return None

  @property
  def _base_vocab_size(self) -> int:
    return self._size

  def _encode(self, s: str) -> list[int]:
    return self._tok.encode(s, add_special_tokens=False).ids

  def _decode(self, ids: Iterable[int]) -> str:
    return self._tok.decode([int(i) for i in ids if int(i) not in (self._pad, self._eos)],
                            skip_special_tokens=False)

  def decode(self, ids: Iterable[int]) -> str:
    """Text of `ids` up to (excluding) the first EOS; padding dropped."""
    ids = [int(i) for i in (ids.numpy() if isinstance(ids, tf.Tensor) else ids)]
    if self._eos in ids:
      ids = ids[:ids.index(self._eos)]
    return self._tok.decode([i for i in ids if i != self._pad], skip_special_tokens=False)

  def _encode_np(self, s) -> np.ndarray:
    s = s.item() if isinstance(s, np.ndarray) else s  # a 0-d object array when called eagerly
    return np.asarray(self._encode(s.decode("utf-8")), dtype=np.int32)

  def _encode_tf(self, s: tf.Tensor) -> tf.Tensor:
    out = tf.numpy_function(self._encode_np, [s], tf.int32, stateful=False)
    out.set_shape([None])
    return out

  def _decode_np(self, ids: np.ndarray) -> np.ndarray:
    lead = ids.shape[:-1]
    rows = ids.reshape(int(np.prod(lead)), ids.shape[-1])
    texts = [self.decode(row.tolist()).encode("utf-8") for row in rows]
    out = np.empty(len(texts), dtype=object)
    out[:] = texts
    return out.reshape(lead)

  def _decode_tf(self, ids: tf.Tensor) -> tf.Tensor:
    ids = tf.convert_to_tensor(ids)
    out = tf.numpy_function(self._decode_np, [ids], tf.string, stateful=False)
    out.set_shape(ids.shape[:-1])
    return out

  def decode_tf(self, ids: tf.Tensor) -> tf.Tensor:
    # seqio's default replaces everything after EOS by pad_id; our decode already stops at EOS.
    return self._decode_tf(ids)

  def __eq__(self, other):
    return isinstance(other, HfTokenizerVocabulary) and other._path == self._path and (
        other._eos, other._bos, other._pad) == (self._eos, self._bos, self._pad)

  def __hash__(self):
    return hash((str(self._path), self._eos, self._bos, self._pad))


def fingerprint(vocab: seqio.Vocabulary) -> str:
  """What makes two vocabularies encode and decode alike, wherever their files live: the tokenizer's own
  serialisation and its special ids (a path-keyed `==` tells two copies of one tokenizer apart)."""
  if isinstance(vocab, CharVocabulary):
    return "char"
  if isinstance(vocab, HfTokenizerVocabulary):
    text = vocab._tok.to_str()  # pylint: disable=protected-access  (canonical: key order and spacing normalised)
    ids = (vocab.eos_id, vocab.bos_id, vocab.pad_id)
    return hashlib.sha1(f"{text}\n{ids}".encode()).hexdigest()
  raise TypeError(f"no fingerprint for vocabulary type {type(vocab).__name__}")


def make_vocabulary(spec: str) -> seqio.Vocabulary:
  """`data.vocab`: "char", or a path or URL (gs://...) to a tokenizer.json (or the directory holding it, e.g.
  a converted checkpoint's hf/)."""
  if spec == "char":
    return CharVocabulary()
  if not spec:
    raise ValueError("data.vocab is empty: use 'char' or a path to a tokenizer.json")
  return HfTokenizerVocabulary(spec if io_paths.is_url(spec) else pathlib.Path(spec).expanduser())


def encode_texts(vocab: seqio.Vocabulary, texts: Sequence[str]) -> list[list[int]]:
  """Python-side encoding of many texts (uses the Rust batch encoder for HF vocabularies)."""
  if isinstance(vocab, HfTokenizerVocabulary):
    return [e.ids for e in vocab._tok.encode_batch(list(texts), add_special_tokens=False)]
  return [list(vocab.encode(t)) for t in texts]
