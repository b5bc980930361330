"""Shared fixtures for the data tests: one tiny TFDS build and two vocabularies, built once per session."""
import pathlib

import pytest
import tokenizers
from tokenizers import decoders, models, pre_tokenizers, trainers

from meta_rfft.data import config
from meta_rfft.tasks import formats, registry

TASKS = "lc_258,sr_coin_flip,bbh_navigate"


def tiny_data_config(data_dir: pathlib.Path, per_length: int = 3):
  cfg = config.default_data_config()
  cfg.data_dir = str(data_dir)
  cfg.build.tasks = TASKS
  for split in ("train", "validation", "test"):
    for kind in ("rf_pretrain", "heldout"):
      cfg.build.splits[split][kind].per_length = per_length if split == "train" else 1
  cfg.build.splits.train.rf_pretrain.lengths = "1-4"
  cfg.build.splits.train.heldout.lengths = "1-3"
  cfg.build.splits.test.rf_pretrain.lengths = "1-2"
  cfg.build.splits.test.heldout.lengths = "1-2"
  cfg.shuffle_buffer = 8
  cfg.pack_bins = 4
  return cfg


@pytest.fixture(scope="session")
def data_cfg(tmp_path_factory):
  return tiny_data_config(tmp_path_factory.mktemp("tfds"))


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory):
  """A tiny byte-level BPE trained on a few rendered examples (nothing can be downloaded)."""
  texts = []
  for task_id in TASKS.split(","):
    e = formats.make_example(registry.get_task(task_id), 2, 0, "rf")
    texts += [e.inputs, e.targets]
  tok = tokenizers.Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>", "<s>"],
                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
  tok.train_from_iterator(texts, trainer)
  path = tmp_path_factory.mktemp("tok")
  tok.save(str(path / "tokenizer.json"))
  return path
