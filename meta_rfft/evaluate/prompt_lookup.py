"""Prompt-lookup speculative decoding: greedy decoding that verifies several drafted tokens per model call.

A rule-following trace recites the rule's lines from its prompt and repeats values it wrote a few lines
earlier, so its next tokens can usually be found by looking its last few tokens up in what came before. Each
step, for every row:
- draft: find the most recent earlier occurrence of the row's last n tokens (n from `max_ngram` down to 1) in
  its prompt plus its output so far, and propose the k tokens that followed it;
- verify: run the row's last emitted token and the k drafts through the model in one cached forward pass,
  which gives the greedy choice after each of them;
- accept the drafts up to the first that differs from the model's choice, plus the model's own choice there.
Every emitted token is the model's argmax after the tokens before it, as in plain greedy decoding, so the
output is the same token for token (up to argmax near-ties, which a (k+1)-token forward pass may round
differently from a one-token pass; tests/evaluate/test_prompt_lookup.py checks float32 identity, and
tests/benchmarks/decode_throughput.py counts bfloat16 differences).

Rows accept different numbers of tokens, so the KV cache advances per row (KVCache.end is [B]); every other
property of the plain decoder holds: one program per (prompt bucket, generation bucket) with k fixed, the loop
on device, the cache on the mesh.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from jax.sharding import Mesh

from meta_rfft.model.attention import KVCache, constrain_cache
from meta_rfft.sharding.rules import Rules, constrain, use_sharding


def lookup_drafts(seq: jax.Array, length: jax.Array, start: jax.Array, *, draft_tokens: int,
                  max_ngram: int) -> tuple[jax.Array, jax.Array]:
  """The drafted continuation of each row, and the n-gram length it was found with (0: no match).

  seq int32 [B, T]: each row's tokens so far in slots [start, length) (slots before `start` are padding, slots
  from `length` on are stale); length, start: int32 [B].

  The longest suffix of at most `max_ngram` tokens that occurs earlier wins, and of its occurrences the most
  recent. The draft is what followed that occurrence; where the occurrence is so recent that its continuation
  runs past the end of the row (a repeating pattern of period p = length - j), the continuation repeats with
  that period, which is what the text itself would do if the pattern went on."""
  b, t = seq.shape
  j = jnp.arange(t, dtype=jnp.int32)[None, :]  # a candidate occurrence's continuation starts at slot j
  start, length = start[:, None], length[:, None]
  run = jnp.ones((b, t), bool)
  matched = jnp.zeros((b, t), jnp.int32)
  for i in range(1, max_ngram + 1):
    # seq[j - i] against the row's i-th last token, both real tokens.
    last_i = jnp.take_along_axis(seq, jnp.maximum(length - i, 0), axis=1)
    run &= (jnp.roll(seq, i, axis=1) == last_i) & (j - i >= start) & (length - i >= start)
    matched += run.astype(jnp.int32)
  matched = jnp.where(j < length, matched, 0)  # j = length would be the suffix itself
  best = jnp.argmax(matched * t + j, axis=1)[:, None]  # longest match, then the most recent
  period = jnp.maximum(length - best, 1)
  idx = best + jnp.arange(draft_tokens, dtype=jnp.int32)[None, :] % period
  drafts = jnp.take_along_axis(seq, jnp.clip(idx, 0, t - 1), axis=1)
  return drafts, jnp.take_along_axis(matched, best, axis=1)[:, 0]


def generate(graphdef, state, tokens, segments, positions, gen_positions, limits, *, max_new: int,
             eos_ids: tuple[int, ...], pad_id: int, mesh: Mesh | None, rules: Rules | None, slice_layers_once: bool,
             draft_tokens: int, max_ngram: int):
  """The traced program: prefill, then draft-and-verify steps until all rows are done.

  tokens/segments/positions [B, P]: the left-padded prompts; gen_positions [B, max_new + draft_tokens + 1]: the
  position id of each row's g-th generated token (drafts past a row's limit take ids past it, never kept);
  limits [B]. Returns (out [B, max_new] with `pad_id` after each row's last token, forwards [B]: the model calls
  each row took part in, the prefill included).

  Slots: the cache and `seq` share one indexing, so a row's g-th generated token sits at slot P + g in both,
  and the cache holds every token but the row's last emitted one, which the next step feeds first."""
  model = nnx.merge(graphdef, state)
  cfg = model.config
  layer_params = model.per_layer_params() if slice_layers_once else None
  b, prompt_len = tokens.shape
  k = draft_tokens
  total = prompt_len + max_new + k + 1
  eos = jnp.asarray(eos_ids if eos_ids else (-1,), jnp.int32)
  start = prompt_len - jnp.sum(segments > 0, axis=1).astype(jnp.int32)
  offsets = jnp.arange(k + 1, dtype=jnp.int32)[None, :]
  write_row = jax.vmap(lambda row, new, slot: jax.lax.dynamic_update_slice_in_dim(row, new, slot, axis=0))

  def is_eos(tok):
    return jnp.any(tok[..., None] == eos, axis=-1)

  with use_sharding(mesh, rules):
    tokens = constrain(tokens, ("act_batch", "act_length"))
    cache = constrain_cache(KVCache.empty(cfg, b, total))
    logits, cache = model.last_logits(tokens, positions=positions, segment_ids=segments, cache=cache)
    cache = cache.replace(end=jnp.full((b,), prompt_len, jnp.int32))  # from here on, each row its own end
    first = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    seq = jnp.full((b, total), pad_id, jnp.int32).at[:, :prompt_len].set(tokens).at[:, prompt_len].set(first)
    seq = constrain(seq, ("act_batch", None))
    generated = jnp.ones((b,), jnp.int32)
    done = is_eos(first) | (limits <= 1)
    forwards = jnp.ones((b,), jnp.int32)

    def cond(carry):
      step, _, _, _, done, _ = carry
      return (step < max_new) & ~jnp.all(done)

    def body(carry):
      step, cache, seq, generated, done, forwards = carry
      length = prompt_len + generated
      drafts, _ = lookup_drafts(seq, length, start, draft_tokens=k, max_ngram=max_ngram)
      last = jnp.take_along_axis(seq, length[:, None] - 1, axis=1)
      inputs = jnp.concatenate([last, drafts], axis=1)
      pos = jnp.take_along_axis(gen_positions, generated[:, None] - 1 + offsets, axis=1)
      cache = cache.replace(end=length - 1)
      logits, cache = model(inputs, positions=pos, segment_ids=jnp.ones_like(inputs), cache=cache,
                            layer_params=layer_params)
      cache = constrain_cache(cache)
      choice = jnp.argmax(logits, axis=-1).astype(jnp.int32)  # the greedy token after each input
      accepted = jnp.sum(jnp.cumprod(drafts == choice[:, :k], axis=1), axis=1)
      # Emitted: choice[:accepted + 1], cut after the first EOS and at the row's limit.
      eos_at = jnp.where(is_eos(choice), offsets, k + 1).min(axis=1)
      emit = jnp.minimum(jnp.minimum(accepted, eos_at) + 1, limits - generated)
      emit = jnp.where(done, 0, emit)
      # All k + 1 choices go in; slots past what a row emits are overwritten by its next step, or masked out.
      seq = write_row(seq, choice, length)
      forwards += (~done).astype(jnp.int32)
      done = done | (eos_at < emit) | (generated + emit >= limits)
      return step + 1, cache, seq, generated + emit, done, forwards

    _, _, seq, generated, _, forwards = jax.lax.while_loop(
        cond, body, (jnp.int32(1), cache, seq, generated, done, forwards))
  out = jax.lax.dynamic_slice_in_dim(seq, prompt_len, max_new, axis=1)
  out = jnp.where(jnp.arange(max_new)[None, :] < generated[:, None], out, pad_id)
  return out, forwards
