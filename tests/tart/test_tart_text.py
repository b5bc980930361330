"""meta_rfft.tart.text_data (JSONL and rule-task examples) and meta_rfft.tart.embed (an LM's embeddings of labelled
examples and its own k-shot answer): every embedding equals a plain forward pass of the prompt it stands for."""
from __future__ import annotations

import random

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from meta_rfft.data.vocab import encode_texts
from meta_rfft.sharding.mesh import make_mesh
from meta_rfft.sharding.rules import DEFAULT_RULES
from meta_rfft.tart import embed as embed_lib
from meta_rfft.tart.embed import LMEmbedder, PromptTooLong, load_lm
from meta_rfft.tart.text_data import TextExample, read_jsonl, rule_task_examples
from meta_rfft.tasks import registry

MAX_CHARS = 12  # shorter than most texts below: a prompt that kept the start instead of the end would differ
TEXTS = ["the cat sat on the mat", "a dog ran far away from home", "1234 + 5678 = 6912", "hello", "x = 3\ny = 4"]
LABELS = [0, 1, 1, 0, 1]
QUERIES = ["q one is here", "query two is longer than the first", "3"]
# The tiny tokenizer merges no space into a word, so " negative" and " positive" both start with the bare space
# token; these start with two different merged tokens.
LABEL_WORDS = ("= no", "the yes")


@pytest.fixture(scope="module")
def lm(tiny_eval_checkpoint):
  mesh = make_mesh((1, -1, 1), devices=jax.devices()[:1])
  return load_lm(tiny_eval_checkpoint, mesh, DEFAULT_RULES)


class WithBos:
  """The tiny vocabulary, claiming a BOS id (it has none of its own)."""

  def __init__(self, vocab, bos_id: int):
    self._vocab, self.bos_id = vocab, bos_id

  def __getattr__(self, name):
    return getattr(self._vocab, name)


@pytest.fixture(scope="module", params=["no_bos", "bos"])
def embedder(request, lm):
  model, vocab = lm
  if request.param == "bos":
    vocab = WithBos(vocab, 7)
  # batch=2: the five leave-one-out rows run as 2 + 2 + 1, the last one padded out to a power of two.
  return LMEmbedder(model, vocab, label_words=LABEL_WORDS, max_chars=MAX_CHARS, batch=2)


@pytest.fixture(scope="module")
def direct(lm):
  """Plain forward of one row: no padding, default positions, no visibility rule -> (hidden [L, H], logits)."""
  model = lm[0]

  @jax.jit
  def fn(tokens):
    hidden = model.hidden_states(tokens)[0]
    return hidden, model.logits(hidden)

  def run(tokens):
    hidden, logits = fn(jnp.asarray([tokens], jnp.int32))
    return np.asarray(hidden[0], np.float64), np.asarray(logits[0], np.float64)
  return run


def _enc(emb: LMEmbedder, text: str) -> list[int]:
  return encode_texts(emb.vocab, [text])[0]


def _sentence(emb, text):
  return _enc(emb, f"Sentence: {text[-MAX_CHARS:]}\nLabel:")


def _example(emb, i):
  return _sentence(emb, TEXTS[i]) + _enc(emb, f" {LABEL_WORDS[LABELS[i]]}\n")


def _bos(emb):
  return [] if emb.vocab.bos_id is None else [emb.vocab.bos_id]


def _mean_of_last(direct, prefix, piece):
  """The mean hidden state over `piece` placed after `prefix` in a direct forward."""
  return direct(prefix + piece)[0][len(prefix):].mean(axis=0)


def _close(a, b):
  np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=1e-5, atol=1e-5)


def test_stream_equals_single_forwards(embedder, direct):
  got = embedder.stream(TEXTS)
  assert got.shape == (len(TEXTS), embedder.hidden_size) and got.dtype == np.float32
  for i, text in enumerate(TEXTS):
    _close(got[i], _mean_of_last(direct, _bos(embedder), _sentence(embedder, text)))


def test_vanilla_and_queries_equal_direct_forwards(embedder, direct, monkeypatch):
  # A query chunk no longer than the prompt: the three queries take more than one row.
  monkeypatch.setattr(embed_lib, "MIN_QUERY_TOKENS", 0)
  long_queries = QUERIES + [q * 9 for q in QUERIES]
  train, query = embedder.vanilla(TEXTS, LABELS, long_queries)
  assert train.shape == (len(TEXTS), embedder.hidden_size) and query.shape == (len(long_queries), train.shape[1])
  prefix = _bos(embedder)
  for i in range(len(TEXTS)):
    _close(train[i], _mean_of_last(direct, prefix, _sentence(embedder, TEXTS[i])))
    prefix = prefix + _example(embedder, i)
  for j, q in enumerate(long_queries):
    _close(query[j], _mean_of_last(direct, prefix, _sentence(embedder, q)))
  # Context matters in this model, so the equalities above test the spans, not a constant.
  assert np.abs(train[1:] - embedder.stream(TEXTS)[1:]).max() > 1e-3


def test_leave_one_out_equals_direct_forwards(embedder, direct):
  seed = 11
  train, query = embedder.leave_one_out(TEXTS, LABELS, QUERIES, seed)
  order = np.random.default_rng(seed).permutation(len(TEXTS))
  full = _bos(embedder) + [t for i in range(len(TEXTS)) for t in _example(embedder, i)]
  for i in range(len(TEXTS)):
    prefix = _bos(embedder) + [t for j in order if j != i for t in _example(embedder, j)]
    _close(train[i], _mean_of_last(direct, prefix, _sentence(embedder, TEXTS[i])))
  for j, q in enumerate(QUERIES):
    _close(query[j], _mean_of_last(direct, full, _sentence(embedder, q)))
  other, _ = embedder.leave_one_out(TEXTS, LABELS, QUERIES, seed + 1)
  assert np.abs(other - train).max() > 1e-3  # the seed orders the other examples


def test_icl_probs_equal_direct_softmax(embedder, direct):
  probs = embedder.icl_probs(TEXTS, LABELS, QUERIES)
  first = [_enc(embedder, " " + w)[0] for w in LABEL_WORDS]
  assert first[0] != first[1]
  full = _bos(embedder) + [t for i in range(len(TEXTS)) for t in _example(embedder, i)]
  want = []
  for q in QUERIES:
    logits = direct(full + _sentence(embedder, q))[1][-1]
    l0, l1 = logits[first[0]], logits[first[1]]
    want.append(np.exp(l1) / (np.exp(l0) + np.exp(l1)))
  assert probs.shape == (len(QUERIES),)
  np.testing.assert_allclose(probs, want, rtol=1e-5, atol=1e-6)
  assert np.ptp(probs) > 1e-4  # the queries' answers differ: each was read at its own last token


def test_prompt_too_long_counts(lm):
  model, vocab = lm
  probe = LMEmbedder(model, vocab, label_words=LABEL_WORDS, max_chars=MAX_CHARS)
  prompt = sum(len(_example(probe, i)) for i in range(len(TEXTS)))
  longest = prompt + max(len(_sentence(probe, q)) for q in QUERIES)
  tight = LMEmbedder(model, vocab, label_words=LABEL_WORDS, max_chars=MAX_CHARS, max_prompt_tokens=longest - 1)
  for call in (lambda: tight.vanilla(TEXTS, LABELS, QUERIES), lambda: tight.icl_probs(TEXTS, LABELS, QUERIES),
               lambda: tight.leave_one_out(TEXTS, LABELS, QUERIES, 0)):
    with pytest.raises(PromptTooLong) as info:
      call()
    assert (info.value.tokens, info.value.limit) == (longest, longest - 1)
    assert isinstance(info.value, ValueError) and f"{longest} tokens" in str(info.value)
  exact = LMEmbedder(model, vocab, label_words=LABEL_WORDS, max_chars=MAX_CHARS, max_prompt_tokens=longest)
  assert exact.icl_probs(TEXTS, LABELS, QUERIES).shape == (len(QUERIES),)
  with pytest.raises(PromptTooLong) as info:
    LMEmbedder(model, vocab, max_chars=MAX_CHARS, max_prompt_tokens=3).stream(TEXTS)
  assert info.value.tokens == max(len(_sentence(probe, t)) for t in TEXTS) and info.value.limit == 3


def test_bad_embedder_inputs(lm):
  model, vocab = lm
  emb = LMEmbedder(model, vocab, max_chars=MAX_CHARS)
  with pytest.raises(ValueError, match="'negative' and 'positive' start with the same token"):
    emb.icl_probs(TEXTS, LABELS, QUERIES)
  with pytest.raises(ValueError, match=r"labels\[2\] must be 0 or 1"):
    emb.vanilla(TEXTS, [0, 1, 2, 0, 1], QUERIES)
  with pytest.raises(ValueError, match="5 texts but 4 labels"):
    emb.vanilla(TEXTS, LABELS[:4], QUERIES)
  with pytest.raises(ValueError, match=r"queries\[1\] must be a non-empty string"):
    emb.vanilla(TEXTS, LABELS, ["a", ""])
  with pytest.raises(ValueError, match="max_prompt_tokens=5000"):
    LMEmbedder(model, vocab, max_prompt_tokens=5000)
  with pytest.raises(ValueError, match="label_words"):
    LMEmbedder(model, vocab, label_words=("yes", "yes"))


# ---- JSONL ----

def test_read_jsonl(tmp_path):
  path = tmp_path / "good.jsonl"
  path.write_text('{"text": "great film", "label": 1}\n\n  \n{"label": 0, "text": "dull"}\n')
  assert read_jsonl(str(path)) == [TextExample("great film", 1), TextExample("dull", 0)]


@pytest.mark.parametrize("line,says", [
    ('{"text": "a", "label": 1', "not valid JSON"),
    ('{"text": "a", "label": 1} junk', "not valid JSON"),
    ('["a", 1]', "expected a JSON object"),
    ('{"label": 1}', "missing key 'text'"),
    ('{"text": "a"}', "missing key 'label'"),
    ('{"text": "a", "label": true}', "must be the integer 0 or 1, got bool"),
    ('{"text": "a", "label": 1.0}', "must be the integer 0 or 1, got float"),
    ('{"text": "a", "label": "1"}', "must be the integer 0 or 1, got str"),
    ('{"text": "a", "label": 2}', "must be the integer 0 or 1, got int 2"),
    ('{"text": "", "label": 0}', '"text" is empty'),
    ('{"text": 5, "label": 0}', '"text" must be a string'),
])
def test_read_jsonl_bad_line_names_file_and_line(tmp_path, line, says):
  path = tmp_path / "bad.jsonl"
  path.write_text('{"text": "a", "label": 0}\n\n' + line + '\n{"text": "b", "label": 1}\n')
  with pytest.raises(ValueError) as info:
    read_jsonl(str(path))
  assert str(info.value).startswith(f"{path}:3: ") and says in str(info.value)


def test_read_jsonl_bad_files(tmp_path):
  with pytest.raises(ValueError, match="missing.jsonl: no such file"):
    read_jsonl(str(tmp_path / "missing.jsonl"))
  (tmp_path / "blank.jsonl").write_text("\n  \n")
  with pytest.raises(ValueError, match="blank.jsonl: no examples"):
    read_jsonl(str(tmp_path / "blank.jsonl"))
  (tmp_path / "latin1.jsonl").write_bytes('{"text": "caf\u00e9", "label": 1}\n'.encode("latin-1"))
  with pytest.raises(ValueError, match="latin1.jsonl:1: not UTF-8"):
    read_jsonl(str(tmp_path / "latin1.jsonl"))
  (tmp_path / "one.jsonl").write_text('{"text": "a", "label": 1}\n{"text": "b", "label": 1}\n')
  with pytest.raises(ValueError, match="one.jsonl: all 2 examples have label 1"):
    read_jsonl(str(tmp_path / "one.jsonl"))


# ---- rule tasks ----

def test_rule_task_examples_balanced_and_deterministic():
  got = rule_task_examples("lc_520, lc_242", 6, 20, 5)
  assert list(got) == ["lc_520", "lc_242"]
  for task_id, examples in got.items():
    task = registry.get_task(task_id)
    assert [e.label for e in examples].count(0) == [e.label for e in examples].count(1) == 10
    assert len({e.text for e in examples}) == 20
    # Each label is the reference answer of the instance the question shows (drawn from the task's own stream).
    rng = random.Random(f"5:{task_id}")
    answers = {task.question(inst): task.reference(inst) for inst in (task.sample(rng, 6) for _ in range(1000))}
    assert all(e.label == int(answers[e.text]) for e in examples)
  assert got == rule_task_examples("lc_520,lc_242", 6, 20, 5)
  assert got["lc_520"] != rule_task_examples("lc_520", 6, 20, 6)["lc_520"]
  # Each task has its own stream: listing another task beside it changes nothing.
  assert rule_task_examples("lc_520", 6, 20, 5)["lc_520"] == got["lc_520"]


def test_rule_task_examples_boolean_picks_true_false_tasks():
  got = rule_task_examples("boolean", 4, 4, 0)
  assert {"lc_520", "lc_242", "sr_coin_flip"} <= set(got)
  for task_id in got:
    task = registry.get_task(task_id)
    assert isinstance(task.reference(task.sample(random.Random(1), 4)), bool)
  assert "nupa_add_integer" not in got


def test_rule_task_examples_errors():
  with pytest.raises(ValueError, match=r"unknown task 'lc_52'; did you mean lc_520"):
    rule_task_examples("lc_520,lc_52", 4, 10, 0)
  with pytest.raises(ValueError, match="rule task 'nupa_add_integer' does not answer True/False"):
    rule_task_examples("nupa_add_integer", 4, 10, 0)
  # Every one-letter word's use of capitals is right: one label only.
  with pytest.raises(ValueError, match="rule task 'lc_520' at length 1: .* gave only answer True"):
    rule_task_examples("lc_520", 1, 10, 0)
  with pytest.raises(ValueError, match="pool must be an integer >= 2"):
    rule_task_examples("lc_520", 4, 1, 0)
