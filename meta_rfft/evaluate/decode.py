"""Batched greedy decoding with the KV cache: one jitted prefill and an on-device `while_loop`.

Two methods give the same tokens: "greedy" calls the model once per token; "prompt_lookup" drafts several
tokens per call from the row's own text and keeps those the model agrees with (prompt_lookup.py). What follows
holds for both.

Why it is shaped this way:
- Prompts are LEFT-padded (segment id 0 on the padding) so every row writes its next token into the same cache
  slot (the model's KVCache keeps one shared `end`).
- Prompt lengths and generation lengths are rounded up to buckets (powers of two by default, or a configured
  list), and short batches are filled with dummy rows, so a whole evaluation compiles a handful of programs
  (one per (prompt bucket, generation bucket)) rather than one per batch.
- The loop stops when every row has produced EOS, ended with a stop sequence or reached its own token limit;
  rows that are done keep being fed (cheaper than compacting the batch) but their outputs are masked to
  `pad_id`. Stop sequences (token ids of text that begins something after the answer, such as a new `\nQ:`)
  end a row inside the loop with the "greedy" method; prompt lookup, which accepts several tokens a step, runs
  on to EOS or the limit, and both methods' rows are then cut after their first stop sequence, so the two
  still return the same tokens.
- Position ids are per row and given for the whole sequence up front (prompt, then every token the row may
  generate): contiguous by default, or the randomized ids a model trained with `data.positions=random`
  expects (meta_rfft/data/positions.py). Only their differences matter to RoPE, so left padding needs no shift.
- On a mesh, the cache and the activations carry the logical-axis constraints of `meta_rfft.sharding.rules`
  (batch over data/fsdp, KV heads over tensor), so decoding runs on the same mesh as training.
- The mesh may span several processes (hosts). Every process builds the same full host batch, hands JAX only
  the rows its own devices hold (`make_array_from_callback`), and gets the generated tokens back replicated
  (out_shardings), so each host can read them without touching other hosts' devices. Every process must then
  call `decode_batch` with the same prompts in the same order (SPMD).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from meta_rfft.evaluate import prompt_lookup
from meta_rfft.evaluate.config import METHODS, MIN_BUCKET, cpu_only
from meta_rfft.model.attention import KVCache, constrain_cache
from meta_rfft.model.decoder import Decoder
from meta_rfft.sharding.rules import DEFAULT_RULES, Rules, constrain, logical_to_spec, use_sharding

def bucket_length(n: int, buckets: Sequence[int] | None = None, *, minimum: int = 8, what: str = "length") -> int:
  """The smallest bucket >= n: from `buckets` if given (an error names `what` if n exceeds them all), else the
  next power of two (at least `minimum`)."""
  if n < 0:
    raise ValueError(f"{what} must be >= 0, got {n}")
  if buckets:
    for b in sorted(buckets):
      if b >= n:
        return int(b)
    raise ValueError(f"{what} {n} exceeds the largest configured bucket {max(buckets)}")
  size = max(minimum, 1)
  while size < n:
    size *= 2
  return size


def eos_ids_of(eos) -> tuple[int, ...]:
  """Normalises an HF-style eos_token_id (None, an int or a list) to a tuple."""
  if eos is None:
    return ()
  if isinstance(eos, (int, np.integer)):
    return (int(eos),)
  return tuple(int(e) for e in eos)


def left_pad(prompts: Sequence[Sequence[int]], length: int, batch: int, pad_id: int,
             prompt_positions: Sequence[Sequence[int]] | None = None):
  """(tokens, segment_ids, positions) int32 [batch, length]; rows beyond len(prompts) are dummy copies of
  the first prompt (their outputs are dropped). `prompt_positions`: each prompt's position ids (default
  0..n-1)."""
  if not prompts:
    raise ValueError("no prompts to decode")
  tokens = np.full((batch, length), pad_id, np.int32)
  segments = np.zeros((batch, length), np.int32)
  positions = np.zeros((batch, length), np.int32)
  for i in range(batch):
    j = i if i < len(prompts) else 0
    p = prompts[j]
    n = len(p)
    if n == 0:
      raise ValueError(f"prompt {i} is empty: decoding needs at least one token (e.g. BOS)")
    if n > length:
      raise ValueError(f"prompt {i} has {n} tokens, more than the padded length {length}")
    tokens[i, length - n:] = p
    segments[i, length - n:] = 1
    positions[i, length - n:] = np.arange(n) if prompt_positions is None else prompt_positions[j][:n]
  return tokens, segments, positions


def _generate(graphdef, state, tokens, segments, positions, gen_positions, limits, *, max_new: int,
              eos_ids: tuple[int, ...], pad_id: int, mesh: Mesh | None, rules: Rules | None, slice_layers_once: bool,
              stops: tuple[tuple[int, ...], ...] = ()):
  """The traced program: prefill, then decode until all rows are done. Returns (out [B, max_new], steps).

  gen_positions [B, max_new]: the position id of each row's k-th generated token.

  slice_layers_once: an unrolled model's per-layer weights are sliced out of the stacks before the loop
  (Decoder.per_layer_params). That pays on XLA:CPU, which would copy them at every step; on TPU, where a slice
  feeds the matmul directly, the copies would only double the weights' memory."""
  model = nnx.merge(graphdef, state)
  cfg = model.config
  layer_params = model.per_layer_params() if slice_layers_once else None
  b, prompt_len = tokens.shape
  eos = jnp.asarray(eos_ids if eos_ids else (-1,), jnp.int32)

  def is_eos(tok):
    return jnp.any(tok[:, None] == eos[None, :], axis=-1)

  # The row's last `width` generated tokens (-1 before the first), to spot a stop sequence as it completes.
  width = max((len(s) for s in stops), default=1)

  def stopped(tail):
    hit = jnp.zeros(tail.shape[:1], bool)
    for s in stops:
      hit |= jnp.all(tail[:, width - len(s):] == jnp.asarray(s, jnp.int32)[None, :], axis=-1)
    return hit

  with use_sharding(mesh, rules):
    tokens = constrain(tokens, ("act_batch", "act_length"))
    cache = constrain_cache(KVCache.empty(cfg, b, prompt_len + max_new))
    logits, cache = model.last_logits(tokens, positions=positions, segment_ids=segments, cache=cache)
    first = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    tail = jnp.full((b, width), -1, jnp.int32).at[:, -1].set(first)
    done = is_eos(first) | (limits <= 1) | stopped(tail)
    out = jnp.full((b, max_new), pad_id, jnp.int32).at[:, 0].set(first)

    def cond(carry):
      step, _, done, _, _ = carry
      return (step < max_new) & ~jnp.all(done)

    def body(carry):
      step, cache, done, out, tail = carry
      prev = jax.lax.dynamic_index_in_dim(out, step - 1, axis=1, keepdims=True)
      pos = jax.lax.dynamic_index_in_dim(gen_positions, step - 1, axis=1, keepdims=True)
      logits, cache = model(prev, positions=pos, segment_ids=jnp.ones_like(prev), cache=cache,
                            layer_params=layer_params)
      cache = constrain_cache(cache)
      tok = jnp.argmax(logits[:, -1], axis=-1).astype(jnp.int32)
      tok = jnp.where(done, pad_id, tok)
      out = jax.lax.dynamic_update_slice_in_dim(out, tok[:, None], step, axis=1)
      tail = jnp.concatenate([tail[:, 1:], tok[:, None]], axis=1)
      done = done | is_eos(tok) | (step + 1 >= limits) | stopped(tail)
      return step + 1, cache, done, out, tail

    step, _, _, out, _ = jax.lax.while_loop(cond, body, (jnp.int32(1), cache, done, out, tail))
  return out, step


@dataclasses.dataclass
class DecodeStats:
  """Counters for throughput reports: programs compiled, batches run, tokens generated (EOS included), and the
  model calls the prompts took part in (the prefill included): new_tokens / forwards is the mean number of
  tokens a call produced, 1 for plain greedy decoding."""
  compiles: int = 0
  batches: int = 0
  new_tokens: int = 0
  forwards: int = 0

  @property
  def tokens_per_forward(self) -> float | None:
    return self.new_tokens / self.forwards if self.forwards else None


class GreedyDecoder:
  """Greedy decoding of token-id prompts with a model (an nnx Decoder, possibly sharded on `mesh`).

  `decode(prompts, max_new_tokens)` returns, per prompt, the generated ids up to and including the first EOS
  or the first of `stop_sequences` (token-id sequences), or `max_new_tokens` ids. `max_new_tokens` may be one
  int or one limit per prompt.

  `method`: "greedy", one model call per token; or "prompt_lookup", which drafts `draft_tokens` tokens per call
  by looking the row's last `max_ngram` (down to 1) tokens up in its own text and keeps those the model agrees
  with (meta_rfft/evaluate/prompt_lookup.py): the same tokens in fewer sequential calls. After each
  `decode_batch`, `last_forwards` holds each prompt's number of model calls.
  """

  def __init__(self, model: Decoder, *, eos_ids: Sequence[int] | int | None = None, pad_id: int = 0,
               batch_size: int = 32, prompt_buckets: Sequence[int] | None = None,
               new_token_buckets: Sequence[int] | None = None, mesh: Mesh | None = None,
               rules: Rules | None = None, method: str = "greedy", draft_tokens: int = 8, max_ngram: int = 4,
               stop_sequences: Sequence[Sequence[int]] = ()):
    cfg = model.config
    self.eos_ids = eos_ids_of(eos_ids if eos_ids is not None else cfg.arch.eos_token_id)
    if not self.eos_ids:
      raise ValueError("GreedyDecoder: no EOS id (neither eos_ids nor the model config's eos_token_id)")
    if batch_size < 1:
      raise ValueError(f"GreedyDecoder: batch_size must be >= 1, got {batch_size}")
    if method not in METHODS:
      raise ValueError(f"decoding.method must be one of {METHODS}, got {method!r}")
    if method == "prompt_lookup" and (int(draft_tokens) < 1 or int(max_ngram) < 1):
      raise ValueError(f"decoding.draft_tokens and decoding.max_ngram must be >= 1 for prompt_lookup, got "
                       f"{draft_tokens} and {max_ngram}")
    self.method, self.draft_tokens, self.max_ngram = method, int(draft_tokens), int(max_ngram)
    self.stop_sequences = tuple(tuple(int(t) for t in s) for s in stop_sequences)
    if any(not s for s in self.stop_sequences):
      raise ValueError("GreedyDecoder: a stop sequence is empty")
    self.last_forwards: list[int] = []
    self.pad_id = int(pad_id)
    self.batch_size = int(batch_size)
    self.prompt_buckets = tuple(prompt_buckets or ())
    self.new_token_buckets = tuple(new_token_buckets or ())
    self.max_positions = cfg.arch.max_position_embeddings
    self.mesh, self.rules = mesh, (dict(rules) if rules is not None else (dict(DEFAULT_RULES) if mesh else None))
    self.graphdef, self.state = nnx.split(model)
    self.stats = DecodeStats()
    self._compiled: set[tuple[int, int]] = set()
    out_shardings, self._row_sharding = None, None
    if mesh is not None:
      # Rows over the batch axes (each host supplies only its own rows); results replicated on every device so
      # that every host can read all of them (np.asarray of an array spanning other hosts' devices fails).
      self._row_sharding = NamedSharding(mesh, logical_to_spec(("act_batch",), (self.batch_size,), mesh,
                                                               self.rules))
      replicated = NamedSharding(mesh, PartitionSpec())
      out_shardings = (replicated, replicated)
    slice_once = not cfg.run.scan_layers and cpu_only(mesh.devices.flat if mesh is not None else jax.devices())
    program = functools.partial(_generate, stops=self.stop_sequences)
    if method == "prompt_lookup":
      program = functools.partial(prompt_lookup.generate, draft_tokens=self.draft_tokens, max_ngram=self.max_ngram)
    self._fn = jax.jit(functools.partial(program, self.graphdef, mesh=self.mesh, rules=self.rules,
                                         eos_ids=self.eos_ids, pad_id=self.pad_id, slice_layers_once=slice_once),
                       static_argnames=("max_new",), out_shardings=out_shardings)

  def _put(self, rows: np.ndarray) -> np.ndarray | jax.Array:
    """Host rows [batch, ...] as a global array on the mesh, built from this process's slices only (every
    process holds the same full `rows`); without a mesh, the host array itself."""
    if self._row_sharding is None:
      return rows
    spec = tuple(self._row_sharding.spec) + (None,) * (rows.ndim - len(self._row_sharding.spec))
    sharding = NamedSharding(self.mesh, PartitionSpec(*spec))
    return jax.make_array_from_callback(rows.shape, sharding, lambda index: rows[index])

  def shapes_for(self, prompt_len: int, max_new: int) -> tuple[int, int]:
    """The (prompt bucket, generation bucket) a batch with these maxima runs in."""
    p = bucket_length(prompt_len, self.prompt_buckets, minimum=MIN_BUCKET, what="prompt length")
    n = bucket_length(max_new, self.new_token_buckets, minimum=MIN_BUCKET, what="max_new_tokens")
    return p, n

  def room_for(self, prompt_len: int) -> int:
    """The most tokens a prompt of this length may generate within max_position_embeddings."""
    return self.max_positions - bucket_length(prompt_len, self.prompt_buckets, minimum=MIN_BUCKET, what="prompt length")

  def decode_batch(self, prompts: Sequence[Sequence[int]], max_new_tokens: int | Sequence[int],
                   positions: Sequence[Sequence[int]] | None = None) -> list[list[int]]:
    """Decodes at most `batch_size` prompts in one program run.

    `positions`: per prompt, the position ids of its tokens followed by those of the tokens it may generate (at
    least len(prompt) + its limit ids); default 0, 1, 2, ... (contiguous)."""
    if len(prompts) > self.batch_size:
      raise ValueError(f"decode_batch got {len(prompts)} prompts, more than batch_size={self.batch_size}")
    limits = ([int(max_new_tokens)] * len(prompts) if np.isscalar(max_new_tokens)
              else [int(m) for m in max_new_tokens])
    if len(limits) != len(prompts):
      raise ValueError(f"max_new_tokens has {len(limits)} limits for {len(prompts)} prompts")
    if min(limits) < 1:
      raise ValueError(f"max_new_tokens must be >= 1, got {min(limits)}")
    p_len, n_new = self.shapes_for(max(len(p) for p in prompts), max(limits))
    if p_len + n_new > self.max_positions:
      # Near the position limit the last bucket is cut to what is left (one extra program at most).
      n_new = self.max_positions - p_len
      if n_new < max(limits):
        # RoPE works past it, but the model never saw such positions: refuse rather than decode garbage.
        raise ValueError(f"prompt length {max(len(p) for p in prompts)} (bucket {p_len}) + max_new_tokens "
                         f"{max(limits)} exceeds the model's max_position_embeddings={self.max_positions}")
    tokens, segments, prompt_pos, gen_pos = self._positions(prompts, limits, positions, p_len, n_new)
    row_limits = np.ones((self.batch_size,), np.int32)
    row_limits[:len(limits)] = limits
    if (p_len, n_new) not in self._compiled:
      self._compiled.add((p_len, n_new))
      self.stats.compiles += 1
    out, forwards = self._fn(self.state, self._put(tokens), self._put(segments), self._put(prompt_pos),
                             self._put(gen_pos), self._put(row_limits), max_new=n_new)
    out = np.asarray(out)  # replicated on a mesh: this host's copy is the whole batch
    forwards = np.asarray(forwards)
    results = []
    self.last_forwards = []
    for i, limit in enumerate(limits):
      row = _cut_at_stop(out[i, :limit].tolist(), self.eos_ids, self.stop_sequences)
      results.append(row)
      self.last_forwards.append(len(row) if self.method == "greedy" else int(forwards[i]))
      self.stats.new_tokens += len(row)
    self.stats.forwards += sum(self.last_forwards)
    self.stats.batches += 1
    return results

  def _positions(self, prompts, limits, positions, p_len: int, n_new: int):
    """Left-padded (tokens, segments, prompt position ids) [batch, p_len] and generated-token ids [batch, n_new]."""
    if positions is None:
      positions = [np.arange(len(p) + n, dtype=np.int64) for p, n in zip(prompts, limits)]
    if len(positions) != len(prompts):
      raise ValueError(f"positions has {len(positions)} rows for {len(prompts)} prompts")
    rows = []
    for i, (p, n, ids) in enumerate(zip(prompts, limits, positions)):
      ids = np.asarray(ids, np.int64)
      if ids.ndim != 1 or len(ids) < len(p) + n:
        raise ValueError(f"positions[{i}] has {ids.size} ids; prompt {i} ({len(p)} tokens) with a limit of {n} "
                         f"new tokens needs {len(p) + n}")
      if np.any(np.diff(ids[:len(p) + n]) <= 0) or ids[0] < 0 or ids[len(p) + n - 1] >= self.max_positions:
        raise ValueError(f"positions[{i}] must increase strictly within [0, max_position_embeddings="
                         f"{self.max_positions})")
      # Tokens past the row's own limit are never kept: their ids only continue the sequence.
      tail = ids[len(p) + n - 1] + 1 + np.arange(max(0, len(p) + n_new - len(ids)))
      rows.append(np.concatenate([ids, tail])[:len(p) + n_new])
    tokens, segments, prompt_pos = left_pad(prompts, p_len, self.batch_size, self.pad_id, rows)
    # Drafts may run up to draft_tokens + 1 past a row's last kept token: their ids continue the sequence.
    extra = self.draft_tokens + 1 if self.method == "prompt_lookup" else 0
    gen = np.zeros((self.batch_size, n_new + extra), np.int32)
    for i in range(self.batch_size):
      j = i if i < len(prompts) else 0
      ids = rows[j][len(prompts[j]):]
      gen[i] = np.concatenate([ids, ids[-1] + 1 + np.arange(extra)])
    return tokens, segments, prompt_pos, gen

  def decode(self, prompts: Sequence[Sequence[int]], max_new_tokens: int | Sequence[int],
             positions: Sequence[Sequence[int]] | None = None) -> list[list[int]]:
    """Decodes any number of prompts, `batch_size` at a time, in the given order (`positions`: decode_batch)."""
    limits = ([int(max_new_tokens)] * len(prompts) if np.isscalar(max_new_tokens)
              else [int(m) for m in max_new_tokens])
    out = []
    for start in range(0, len(prompts), self.batch_size):
      end = start + self.batch_size
      out.extend(self.decode_batch(prompts[start:end], limits[start:end],
                                   None if positions is None else positions[start:end]))
    return out


def _cut_at_stop(row: list[int], eos_ids: Sequence[int], stops: Sequence[Sequence[int]]) -> list[int]:
  """`row` through its first EOS or the end of its first stop sequence, whichever comes first."""
  for j, t in enumerate(row):
    if t in eos_ids or any(len(s) <= j + 1 and tuple(row[j + 1 - len(s):j + 1]) == s for s in stops):
      return row[:j + 1]
  return row


def strip_eos(ids: Sequence[int], eos_ids: Sequence[int]) -> list[int]:
  """The ids before the first EOS (what is detokenized as the model's answer text)."""
  out = []
  for t in ids:
    if t in eos_ids:
      break
    out.append(t)
  return out


def greedy_uncached(model: Decoder, prompt: Sequence[int], max_new_tokens: int,
                    eos_ids: Sequence[int], positions: Sequence[int] | None = None) -> list[int]:
  """The reference: a full forward pass over prompt + generated tokens at every step (no cache), argmax at
  the last real position. The row is right-padded to one fixed length (causal attention never looks at the
  padding) so the forward pass compiles once. `positions`: the ids of prompt + generated tokens (default
  0, 1, 2, ...). Slow; for tests only."""
  total = len(prompt) + max_new_tokens
  ids = np.arange(total) if positions is None else np.asarray(positions)[:total]
  pos = np.concatenate([ids, ids[-1] + 1 + np.arange(total - len(ids))]).astype(np.int32)[None]
  forward = nnx.jit(lambda m, t, p, s: m(t, positions=p, segment_ids=s)[0])
  seq = list(prompt)
  out = []
  for _ in range(max_new_tokens):
    tokens = np.zeros((1, total), np.int32)
    tokens[0, :len(seq)] = seq
    segments = (np.arange(total) < len(seq)).astype(np.int32)[None]
    logits = forward(model, tokens, pos, segments)
    tok = int(jnp.argmax(logits[0, len(seq) - 1]))
    out.append(tok)
    seq.append(tok)
    if tok in eos_ids:
      break
  return out
