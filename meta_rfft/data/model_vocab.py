"""The training run's vocabulary: `config.data.vocab`, or the starting checkpoint's tokenizer, checked to fit
the model's embedding. Shared by the mixture (meta_rfft/train/data_source.py) and multi-turn
(meta_rfft/multiturn/train_data.py) data sources.
"""
from __future__ import annotations

import seqio

from meta_rfft.data import vocab as vocab_lib


def model_vocabulary(spec: str, hf_dir: str, model_vocab_size: int) -> seqio.Vocabulary:
  """`spec` is config.data.vocab ("" = the tokenizer in `hf_dir`, the checkpoint the run starts from).

  A token id past the embedding's last row would be read out of bounds, so a larger vocabulary is an error.
  """
  spec = spec or hf_dir
  if not spec:
    raise ValueError("config.data.vocab is empty (= the tokenizer of config.init.checkpoint) but no "
                     "config.init.checkpoint is set; use 'char' or a tokenizer.json path")
  vocab = vocab_lib.make_vocabulary(spec)
  if vocab.vocab_size > model_vocab_size:
    raise ValueError(f"config.data.vocab={spec!r} has {vocab.vocab_size} tokens but the model's embedding "
                     f"has {model_vocab_size} rows (model.arch.vocab_size / the HF config.json)")
  return vocab
