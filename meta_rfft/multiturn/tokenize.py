"""Text conversations -> token turns, with the same token ids for both training methods.

Each piece (user text, reasoning, answer) is encoded on its own, so that the single-pass row and the N-pass
examples are built from identical ids. The first user turn starts with BOS when the vocabulary has one;
every answer ends with the end-of-turn token (EOS), which is trained on like the answer.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np

from meta_rfft.multiturn import token_layout as layout
from meta_rfft.multiturn.conversation import Conversation


@dataclasses.dataclass(frozen=True)
class TextEncoder:
  """How text becomes ids: `encode(text)` without special tokens, plus the BOS (optional) and EOS ids."""
  encode: Callable[[str], Sequence[int]]
  eos_id: int
  bos_id: int | None = None

  @classmethod
  def from_vocabulary(cls, vocab) -> "TextEncoder":
    """A seqio-style vocabulary (`encode`, `eos_id`, optional `bos_id`)."""
    eos = getattr(vocab, "eos_id", None)
    if eos is None:
      raise ValueError(f"vocabulary {type(vocab).__name__} has no eos_id; multi-turn answers end with EOS")
    bos = getattr(vocab, "bos_id", None)
    return cls(encode=lambda s: list(vocab.encode(s)), eos_id=int(eos),
               bos_id=None if bos is None else int(bos))

  @classmethod
  def from_tokenizers(cls, tokenizer, eos_token: str, bos_token: str | None = None) -> "TextEncoder":
    """A Hugging Face `tokenizers.Tokenizer`; special tokens named as in its vocabulary."""
    def token_id(name):
      i = tokenizer.token_to_id(name)
      if i is None:
        raise ValueError(f"tokenizer has no token {name!r}")
      return i
    return cls(encode=lambda s: tokenizer.encode(s, add_special_tokens=False).ids, eos_id=token_id(eos_token),
               bos_id=None if bos_token is None else token_id(bos_token))


def tokenize_conversation(conv: Conversation, encoder: TextEncoder) -> list[layout.TokenTurn]:
  turns = []
  for i, t in enumerate(conv.turns):
    user = list(encoder.encode(t.user))
    if i == 0 and encoder.bos_id is not None:
      user = [encoder.bos_id] + user
    turns.append((np.asarray(user, np.int32), np.asarray(list(encoder.encode(t.reasoning)), np.int32),
                  np.asarray(list(encoder.encode(t.answer)) + [encoder.eos_id], np.int32)))
  return layout.make_turns(turns)
