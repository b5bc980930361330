"""Token layouts of a conversation: the single-pass row and the N-pass reference examples.

Both take a tokenized conversation: per turn the token ids of `user` (the first turn's starts with BOS when
the vocabulary has one), `reasoning` (may be empty) and `answer` (ends with the end-of-turn token, EOS).

What is trained on, identically in both methods: for every turn t, every reasoning token and every answer
token (the end-of-turn token included), each predicted from exactly the context the N-pass method gives it:
the earlier turns' user texts and answers (never their reasoning), then this turn's user text, reasoning and
the answer so far. Nothing else carries loss.

N-pass (the reference): one example per turn, the standard LM shift over
  [u_1 a_1 ... u_{t-1} a_{t-1}] u_t r_t a_t        (loss on the targets r_t and a_t).

Single pass: one example per conversation, each turn laid out as
  source (u_t) | reasoning (r_t) | answer copy A (a_t) | answer copy B (a_t without its last token)
- copy A is the answer as later turns see it: positions start where r_t starts, as if there were no reasoning;
  it sees the history, u_t and itself only.
- copy B is the answer as produced after the reasoning: positions continue after r_t; it sees the history,
  u_t, r_t and itself; nothing else sees it (later tokens of copy B aside).
- the running position advances by len(u_t) + len(a_t) per turn, as in the N-pass history.
Targets are explicit per position, not a shift of the row: the last token of u_t predicts the turn's first
output token, r_t[i] predicts the next output token (the LAST reasoning token predicts a_t[0], the first
answer token), and copy B's a_t[i] predicts a_t[i + 1]. The authors' code instead shifts the row by one, so
a_t[0] is predicted from the last token of copy A, which cannot see the reasoning and sits at the wrong
position: the first answer token of every turn gets a different (wrong) loss. Copy B drops the answer's last
token because nothing is predicted from it.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import jax.numpy as jnp
import numpy as np

from meta_rfft.model.visibility import register_rule

# block_kinds values (0 = padding).
SOURCE, REASONING, ANSWER_A, ANSWER_B = 1, 2, 3, 4
RULE_NAME = "multiturn_single_pass"
VISIBILITY_KEYS = ("turn_ids", "block_kinds")
BASE_KEYS = ("input_tokens", "target_tokens", "loss_weights", "positions")


@dataclasses.dataclass(frozen=True)
class TokenTurn:
  user: np.ndarray       # int32, non-empty
  reasoning: np.ndarray  # int32, may be empty
  answer: np.ndarray     # int32, non-empty, ends with the end-of-turn token


def make_turns(turns: Sequence[tuple[Sequence[int], Sequence[int], Sequence[int]]]) -> list[TokenTurn]:
  """(user, reasoning, answer) id lists -> checked TokenTurns."""
  out = []
  for i, (u, r, a) in enumerate(turns):
    t = TokenTurn(np.asarray(u, np.int32).reshape(-1), np.asarray(r, np.int32).reshape(-1),
                  np.asarray(a, np.int32).reshape(-1))
    if t.user.size == 0 or t.answer.size == 0:
      raise ValueError(f"turn {i}: user and answer token ids must be non-empty "
                       f"(got {t.user.size} user and {t.answer.size} answer tokens)")
    out.append(t)
  if not out:
    raise ValueError("a conversation needs at least one turn")
  return out


def single_pass_length(turns: Sequence[TokenTurn]) -> int:
  return sum(t.user.size + t.reasoning.size + 2 * t.answer.size - 1 for t in turns)


def n_pass_lengths(turns: Sequence[TokenTurn]) -> list[int]:
  lengths, history = [], 0
  for t in turns:
    lengths.append(history + t.user.size + t.reasoning.size + t.answer.size - 1)
    history += t.user.size + t.answer.size
  return lengths


def single_pass_example(turns: Sequence[TokenTurn]) -> dict[str, np.ndarray]:
  """The whole conversation as one example: per-token arrays of BASE_KEYS + VISIBILITY_KEYS."""
  tokens, targets, weights, positions, turn_ids, kinds = [], [], [], [], [], []

  def put(ids, tgt, w, pos, turn, kind):
    tokens.append(ids)
    targets.append(tgt)
    weights.append(w)
    positions.append(pos)
    turn_ids.append(np.full(ids.size, turn, np.int32))
    kinds.append(np.full(ids.size, kind, np.int32))

  pos = 0
  for turn, t in enumerate(turns, start=1):
    u, r, a = t.user, t.reasoning, t.answer
    output = np.concatenate([r, a])  # what this turn predicts, in order
    # Source: only its last token predicts (the turn's first output token).
    u_tgt = np.zeros_like(u)
    u_tgt[-1] = output[0]
    u_w = np.zeros(u.size, np.float32)
    u_w[-1] = 1.0
    put(u, u_tgt, u_w, pos + np.arange(u.size), turn, SOURCE)
    pos += u.size
    # Reasoning: r[i] predicts output[i + 1]; the last one predicts a[0].
    put(r, output[1:r.size + 1], np.ones(r.size, np.float32), pos + np.arange(r.size), turn, REASONING)
    # Copy A: no loss; its targets are the shifted answer only for readability of dumps.
    put(a, np.append(a[1:], 0).astype(np.int32), np.zeros(a.size, np.float32), pos + np.arange(a.size), turn,
        ANSWER_A)
    # Copy B: a[i] predicts a[i + 1], at the positions the answer has after the reasoning.
    b = a[:-1]
    put(b, a[1:], np.ones(b.size, np.float32), pos + r.size + np.arange(b.size), turn, ANSWER_B)
    pos += a.size
  cat = lambda xs, dt: np.concatenate(xs).astype(dt)
  return dict(input_tokens=cat(tokens, np.int32), target_tokens=cat(targets, np.int32),
              loss_weights=cat(weights, np.float32), positions=cat(positions, np.int32),
              turn_ids=cat(turn_ids, np.int32), block_kinds=cat(kinds, np.int32))


def n_pass_examples(turns: Sequence[TokenTurn]) -> list[dict[str, np.ndarray]]:
  """One ordinary causal example per turn (BASE_KEYS): history with answers only, then u_t r_t a_t."""
  examples, history = [], np.zeros(0, np.int32)
  for t in turns:
    seq = np.concatenate([history, t.user, t.reasoning, t.answer])
    weights = np.zeros(seq.size - 1, np.float32)
    weights[history.size + t.user.size - 1:] = 1.0  # targets r_t and a_t
    examples.append(dict(input_tokens=seq[:-1].astype(np.int32), target_tokens=seq[1:].astype(np.int32),
                         loss_weights=weights, positions=np.arange(seq.size - 1, dtype=np.int32)))
    history = np.concatenate([history, t.user, t.answer])
  return examples


def trained_tokens(turns: Sequence[TokenTurn]) -> int:
  """How many tokens carry loss (the same in both layouts)."""
  return sum(t.reasoning.size + t.answer.size for t in turns)


def _bits(*kinds: int) -> int:
  return sum(1 << k for k in kinds)


# Which block kinds a query sees in its own turn (by the query's kind) and in earlier turns (any query):
# - a source sees its own source; a reasoning token its source and reasoning; copy A (the answer as history)
#   its source and copy A, never the reasoning; copy B its source, reasoning and copy B, never copy A;
# - every token sees earlier turns' sources and copies A: the history, with answers only.
# Later turns are never seen (the base rule's causal order). Kind 0 (padding) has no bits: sees nothing.
_SAME_TURN = np.array([0, _bits(SOURCE), _bits(SOURCE, REASONING), _bits(SOURCE, ANSWER_A),
                       _bits(SOURCE, REASONING, ANSWER_B)], np.int32)
_EARLIER_TURN = _bits(SOURCE, ANSWER_A)


def _single_pass_rule(q: Mapping[str, jnp.ndarray], k: Mapping[str, jnp.ndarray]) -> jnp.ndarray:
  # Bit sets keep the [B, Lq, Lk] work to four elementwise ops (compare, select, and, compare); the rule is
  # evaluated in every layer, so its cost is paid num_layers times per pass.
  q_same = jnp.take(jnp.asarray(_SAME_TURN), q["block_kinds"])
  q_earlier = jnp.where(q["block_kinds"] > 0, _EARLIER_TURN, 0)
  k_bit = jnp.left_shift(1, k["block_kinds"])
  allowed = jnp.where(k["turn_ids"] == q["turn_ids"], q_same, q_earlier)
  return (allowed & k_bit) != 0


register_rule(RULE_NAME, _single_pass_rule)
