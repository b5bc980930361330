"""An LM's embeddings of labelled text examples, three ways (stream, vanilla, leave-one-out), and the LM's own
k-shot answer: what the reasoning head is composed with, and the in-context-learning baseline it is compared to.

Prompts follow TART's format. Example i is two pieces, its sentence piece "Sentence: {text}\\nLabel:" (the end of
the text, max_chars characters: a rule task's instance is at the end of its question) and its label piece
" {label word}\\n". A prompt's token ids are BOS (if the vocabulary has one) and then each piece encoded on its
own, so the tokens of every sentence piece (its span) are known exactly. An example's embedding is the mean of
the LM's last-layer hidden states over its span.

Queries never get a forward pass of their own over the whole prompt: one row holds the prompt once and then a
chunk of queries, each at the positions that continue from the prompt's end and seeing only the prompt and
itself (meta_rfft.tart.head.QUERY_RULE), which gives the same hidden states as one pass per query.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from meta_rfft import io_paths
from meta_rfft.convert.sources import load_model, resolve
from meta_rfft.data.vocab import encode_texts
from meta_rfft.evaluate.run_settings import eval_vocabulary
from meta_rfft.model.decoder import Decoder
from meta_rfft.model.visibility import Visibility
from meta_rfft.tart.head import QUERY_RULE

# Tokens one forward pass holds at most (rows x padded length): long prompts run fewer rows at a time, so memory
# stays bounded whatever k is. A row holds at least this many query tokens behind its prompt (more when the
# prompt is longer), so a short prompt is not recomputed for every few queries.
TOKENS_PER_FORWARD = 16384
MIN_QUERY_TOKENS = 256


class PromptTooLong(ValueError):
  """A prompt needs more tokens than the embedder's limit; the caller reports that k as not run."""

  def __init__(self, tokens: int, limit: int, what: str):
    super().__init__(f"{what}: the longest prompt has {tokens} tokens, more than max_prompt_tokens={limit}")
    self.tokens, self.limit = tokens, limit


def load_lm(checkpoint: str, mesh, rules, **run_options) -> tuple[Decoder, Any]:
  """(model, vocabulary) of a converted checkpoint, trainer step or trainer WORKDIR. `run_options`: RunOptions
  fields (dtype, param_dtype, scan_layers) as meta_rfft.convert.sources.load_model takes them."""
  ckpt = os.fspath(io_paths.resolve(checkpoint))
  src = resolve(ckpt)
  model = load_model(src, mesh, rules, **run_options)
  vocab = eval_vocabulary("", ckpt, src.hf_dir)
  if vocab.vocab_size > model.config.arch.vocab_size:
    raise ValueError(f"{checkpoint}: the vocabulary has {vocab.vocab_size} ids but the model's embedding only "
                     f"{model.config.arch.vocab_size}")
  return model, vocab


@dataclasses.dataclass
class _Row:
  """One row of a forward pass: token ids, their positions and QUERY_RULE ids, and the [start, stop) slots of
  each pooled span."""
  tokens: list[int]
  positions: list[int]
  query: list[int]
  spans: list[tuple[int, int]]


def _bucket(n: int, minimum: int = 16) -> int:
  """The smallest of minimum * {1, 1.5, 2, 3, 4, 6, ...} that is >= n (few compiled shapes, little padding)."""
  size = minimum
  while True:
    if size >= n:
      return size
    if size * 3 // 2 >= n:
      return size * 3 // 2
    size *= 2


@functools.partial(jax.jit, static_argnums=(0,), static_argnames=("num_spans", "label_ids"))
def _forward(graphdef, state, tokens, positions, segments, query, span_ids, last, *, num_spans: int,
             label_ids: tuple[int, int] | None):
  """Per row: the sum of the float32 hidden states over each span [B, S, H] and, with label_ids, the logits of
  those two ids at each span's last token [B, S, 2]."""
  model = nnx.merge(graphdef, state)
  hidden, _ = model.hidden_states(tokens, positions=positions, segment_ids=segments,
                                  visibility=Visibility(ids={"query": query}, rule=QUERY_RULE))
  # Slot ids 0 (not pooled) collect into segment 0, which is dropped.
  sums = jax.vmap(lambda h, s: jax.ops.segment_sum(h, s, num_segments=num_spans + 1))(
      hidden.astype(jnp.float32), span_ids)[:, 1:]
  if label_ids is None:
    return sums, None
  at_last = jnp.take_along_axis(hidden, last[:, :, None], axis=1)
  return sums, model.logits(at_last)[..., jnp.asarray(label_ids)]


class LMEmbedder:
  """Embeddings of labelled examples and queries by `model` (a Decoder), and its own k-shot answers.

  `label_words`: the words for labels 0 and 1. `max_chars`: how much of each text's end a prompt keeps.
  `max_prompt_tokens`: the longest prompt allowed (0: the model's max_position_embeddings); a longer one
  raises PromptTooLong. `batch`: rows per forward pass at most."""

  def __init__(self, model: Decoder, vocab, *, label_words: Sequence[str] = ("negative", "positive"),
               max_chars: int = 100, max_prompt_tokens: int = 0, batch: int = 8):
    label_words = tuple(label_words)
    if len(label_words) != 2 or not all(isinstance(w, str) and w.strip() for w in label_words):
      raise ValueError(f"LMEmbedder: label_words must be two non-empty words (for labels 0 and 1), got "
                       f"{label_words!r}")
    if label_words[0] == label_words[1]:
      raise ValueError(f"LMEmbedder: label_words {label_words!r} name both labels the same")
    if max_chars < 1:
      raise ValueError(f"LMEmbedder: max_chars must be >= 1, got {max_chars}")
    if batch < 1:
      raise ValueError(f"LMEmbedder: batch must be >= 1, got {batch}")
    positions = model.config.arch.max_position_embeddings
    if max_prompt_tokens < 0 or max_prompt_tokens > positions:
      raise ValueError(f"LMEmbedder: max_prompt_tokens={max_prompt_tokens} must be 0 (the model's limit) or "
                       f"1..{positions} (the model's max_position_embeddings)")
    self.model, self.vocab = model, vocab
    self.label_words, self.max_chars, self.batch = label_words, int(max_chars), int(batch)
    self.max_prompt_tokens = int(max_prompt_tokens) or positions
    self.hidden_size = model.config.arch.hidden_size
    self._bos = [] if vocab.bos_id is None else [int(vocab.bos_id)]
    self._label_pieces = encode_texts(vocab, [f" {w}\n" for w in label_words])
    # The graph definition is a static argument of one module-level jit: embedders of the same model share
    # its compiled programs.
    self._graphdef, self._state = nnx.split(model)

  # ---- pieces and rows ----

  def _sentences(self, texts: Sequence[str], what: str) -> list[list[int]]:
    if isinstance(texts, str):
      raise ValueError(f"{what} must be a list of strings, got one string")
    for i, t in enumerate(texts):
      if not isinstance(t, str) or not t:
        raise ValueError(f"{what}[{i}] must be a non-empty string, got {t!r}")
    return encode_texts(self.vocab, [f"Sentence: {t[-self.max_chars:]}\nLabel:" for t in texts])

  def _examples(self, texts: Sequence[str], labels: Sequence[int]) -> list[list[int]]:
    """The labelled examples' pieces: sentence 0, label 0, sentence 1, label 1, ..."""
    if len(texts) != len(labels):
      raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    if not texts:
      raise ValueError("no labelled examples (k = 0)")
    for i, y in enumerate(labels):
      if isinstance(y, bool) or not isinstance(y, (int, np.integer)) or int(y) not in (0, 1):
        raise ValueError(f"labels[{i}] must be 0 or 1, got {y!r}")
    pieces = []
    for sentence, y in zip(self._sentences(texts, "texts"), labels):
      pieces += [sentence, self._label_pieces[int(y)]]
    return pieces

  def _check(self, tokens: int, what: str) -> None:
    if tokens > self.max_prompt_tokens:
      raise PromptTooLong(tokens, self.max_prompt_tokens, what)

  def _row(self, pieces: Sequence[list[int]], pooled: Sequence[int] = (), queries: Sequence[list[int]] = ()) -> _Row:
    """BOS, the pieces (pooling the spans of those indexed by `pooled`), then each query at the positions that
    follow the prompt, seeing only the prompt and itself."""
    tokens, spans, pooled = list(self._bos), [], set(pooled)
    for idx, piece in enumerate(pieces):
      if idx in pooled:
        spans.append((len(tokens), len(tokens) + len(piece)))
      tokens += piece
    end = len(tokens)
    positions, query = list(range(end)), [0] * end
    for j, q in enumerate(queries):
      spans.append((len(tokens), len(tokens) + len(q)))
      tokens += q
      positions += range(end, end + len(q))
      query += [j + 1] * len(q)
    return _Row(tokens, positions, query, spans)

  def _query_rows(self, prompt: Sequence[list[int]], queries: Sequence[list[int]],
                  pooled: Sequence[int] = ()) -> list[_Row]:
    """Rows of the prompt followed by a chunk of queries each; the first row also pools `pooled`."""
    prompt_len = len(self._bos) + sum(len(p) for p in prompt)
    room = max(prompt_len, MIN_QUERY_TOKENS)
    chunks, chunk, size = [], [], 0
    for q in queries:
      if chunk and size + len(q) > room:
        chunks.append(chunk)
        chunk, size = [], 0
      chunk.append(q)
      size += len(q)
    if chunk or not chunks:
      chunks.append(chunk)
    return [self._row(prompt, pooled if c == 0 else (), chunk) for c, chunk in enumerate(chunks)]

  # ---- forward passes ----

  def _run(self, rows: list[_Row], label_ids: tuple[int, int] | None = None) -> list[tuple[np.ndarray, Any]]:
    """Per row: the mean hidden state over each span [spans, H] and (with label_ids) the two ids' logits at
    each span's last token [spans, 2]."""
    out: list[Any] = [None] * len(rows)
    order = sorted(range(len(rows)), key=lambda r: -len(rows[r].tokens))  # similar lengths share a pass
    start = 0
    while start < len(order):
      length = _bucket(len(rows[order[start]].tokens))
      fits = min(self.batch, max(1, TOKENS_PER_FORWARD // length))
      group = order[start:start + fits]
      start += len(group)
      n_rows = min(fits, 1 << (len(group) - 1).bit_length())  # a power of two up to `fits`: few shapes
      num_spans = 1 << (max(1, *(len(rows[r].spans) for r in group)) - 1).bit_length()
      arrays = {name: np.zeros((n_rows, length), np.int32)
                for name in ("tokens", "positions", "segments", "query", "span_ids")}
      last = np.zeros((n_rows, num_spans), np.int32)
      for b, r in enumerate(group):
        row, n = rows[r], len(rows[r].tokens)
        arrays["tokens"][b, :n] = row.tokens
        arrays["positions"][b, :n] = row.positions
        arrays["segments"][b, :n] = 1
        arrays["query"][b, :n] = row.query
        for s, (lo, hi) in enumerate(row.spans):
          arrays["span_ids"][b, lo:hi] = s + 1
          last[b, s] = hi - 1
      sums, logits = _forward(self._graphdef, self._state, arrays["tokens"], arrays["positions"], arrays["segments"],
                              arrays["query"], arrays["span_ids"], last, num_spans=num_spans, label_ids=label_ids)
      sums = np.asarray(sums, np.float64)
      logits = None if logits is None else np.asarray(logits, np.float64)
      for b, r in enumerate(group):
        spans = rows[r].spans
        counts = np.array([hi - lo for lo, hi in spans], np.float64)[:, None]
        out[r] = ((sums[b, :len(spans)] / counts).astype(np.float32),
                  None if logits is None else logits[b, :len(spans)])
    return out

  def _queries(self, prompt: list[list[int]], queries: Sequence[str], what: str,
               label_ids: tuple[int, int] | None = None, pooled: Sequence[int] = ()):
    """(the first row's pooled prompt spans [len(pooled), H], each query's mean [m, H], each query's label-id
    logits [m, 2] or None) from rows of the prompt and chunks of queries."""
    query_pieces = self._sentences(queries, "queries")
    prompt_len = len(self._bos) + sum(len(p) for p in prompt)
    self._check(prompt_len + max((len(q) for q in query_pieces), default=0), what)
    if not query_pieces and not pooled:
      empty = np.zeros((0, self.hidden_size), np.float32)
      return empty, empty, (None if label_ids is None else np.zeros((0, 2)))
    results = self._run(self._query_rows(prompt, query_pieces, pooled), label_ids)
    first = results[0][0][:len(pooled)]
    means = [r[0][len(pooled) if i == 0 else 0:] for i, r in enumerate(results)]
    logits = None if label_ids is None else [r[1][len(pooled) if i == 0 else 0:] for i, r in enumerate(results)]
    query = np.concatenate(means, axis=0) if query_pieces else np.zeros((0, self.hidden_size), np.float32)
    if logits is not None:
      logits = np.concatenate(logits, axis=0) if query_pieces else np.zeros((0, 2))
    return first, query, logits

  # ---- the public ways ----

  def stream(self, texts: Sequence[str]) -> np.ndarray:
    """Each text's sentence piece alone (BOS + piece): [n, H]."""
    pieces = self._sentences(texts, "texts")
    if not pieces:
      return np.zeros((0, self.hidden_size), np.float32)
    self._check(len(self._bos) + max(len(p) for p in pieces), f"stream of {len(pieces)} texts")
    return np.stack([r[0][0] for r in self._run([self._row([p], pooled=[0]) for p in pieces])])

  def vanilla(self, texts: Sequence[str], labels: Sequence[int],
              queries: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(train [k, H], query [m, H]): one prompt of all k examples, each pooled over its own span (it sees only
    the examples before it); each query after the whole prompt."""
    prompt = self._examples(texts, labels)
    train, query, _ = self._queries(prompt, queries, f"vanilla, k={len(texts)}", pooled=range(0, len(prompt), 2))
    return train, query

  def leave_one_out(self, texts: Sequence[str], labels: Sequence[int], queries: Sequence[str],
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train [k, H], query [m, H]): example i after the other k - 1 (with labels), in the order
    np.random.default_rng(seed).permutation(k) with i left out; each query after the whole k-example prompt."""
    k = len(texts)
    pieces = self._examples(texts, labels)
    _, query, _ = self._queries(pieces, queries, f"leave-one-out, k={k}")  # also checks the longest prompt
    order = np.random.default_rng(seed).permutation(k)
    rows = []
    for i in range(k):
      prompt = [p for j in order if j != i for p in pieces[2 * j:2 * j + 2]]
      rows.append(self._row(prompt + [pieces[2 * i]], pooled=[len(prompt)]))
    train = np.stack([r[0][0] for r in self._run(rows)])
    return train, query

  def label_token_ids(self) -> tuple[int, int]:
    """The first token of " " + each label word: the tokens whose next-token logits icl_probs compares."""
    firsts = []
    for w in self.label_words:
      ids = encode_texts(self.vocab, [" " + w])[0]
      if not ids:
        raise ValueError(f"label word {w!r} encodes to no tokens")
      firsts.append(int(ids[0]))
    if firsts[0] == firsts[1]:
      raise ValueError(f"label words {self.label_words[0]!r} and {self.label_words[1]!r} start with the same token "
                       f"({firsts[0]}): the LM's next-token probabilities cannot tell them apart; choose words "
                       f"that differ in their first token")
    return firsts[0], firsts[1]

  def icl_probs(self, texts: Sequence[str], labels: Sequence[int], queries: Sequence[str]) -> np.ndarray:
    """The LM's own k-shot answer: for each query after the k-example prompt, P(label 1) from the next-token
    logits of the two label words' first tokens (a softmax over those two): [m]."""
    label_ids = self.label_token_ids()
    _, _, logits = self._queries(self._examples(texts, labels), queries, f"in-context, k={len(texts)}",
                                 label_ids=label_ids)
    # softmax([l0, l1])[1] = sigmoid(l1 - l0), written with tanh so that a large gap cannot overflow exp.
    return (0.5 * (1.0 + np.tanh(0.5 * (logits[:, 1] - logits[:, 0])))).astype(np.float32)
