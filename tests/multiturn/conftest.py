"""Shared fixtures: generated conversations of a real task and a real (locally trained) BPE tokenizer."""
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from meta_rfft.multiturn.generate import generate
from meta_rfft.multiturn.tokenize import TextEncoder
from meta_rfft.tasks import registry


@pytest.fixture(scope="session")
def conversations():
  """Conversations of 1-3 turns about lc_258; one with direct format (no reasoning) is mixed in."""
  task = registry.get_task("lc_258")
  return generate(task, [1, 2, 3], 10, [1, 2], seed=0) + generate(task, [2], 2, [1, 2], seed=1, fmt="direct")


@pytest.fixture(scope="session")
def encoder(conversations):
  texts = [x for c in conversations for t in c.turns for x in (t.user, t.reasoning, t.answer)]
  tok = Tokenizer(models.BPE(unk_token="<unk>"))
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  trainer = trainers.BpeTrainer(vocab_size=1000, special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
  tok.train_from_iterator(texts, trainer)
  return TextEncoder.from_tokenizers(tok, eos_token="</s>", bos_token="<s>"), tok.get_vocab_size(), tok
