"""Single pass == N passes, token by token, on a small random float32 model (and the authors' shift does not).

Every trained token's log-probability from the single-pass layout is compared with the N-pass reference,
grouped by (conversation, turn) and in order, so the first answer token of every turn is checked explicitly.
"""
import jax
import numpy as np
import pytest
from flax import nnx

from meta_rfft.model import Decoder, from_hf_config
from meta_rfft.multiturn import token_layout as layout
from meta_rfft.multiturn.model_io import token_log_probs
from meta_rfft.multiturn.packing import pack

VOCAB = 97
ARCH = dict(model_type="qwen2", vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, head_dim=8, rope_theta=500.0, initializer_range=0.3,
            tie_word_embeddings=False)
SEQ_LEN = 160
ROWS = 6  # every call uses [ROWS, SEQ_LEN] so that each jitted function compiles once
EOT = 1
TOL = 1e-5


@pytest.fixture(scope="module")
def model():
  return Decoder(from_hf_config(ARCH), rngs=nnx.Rngs(7))


@nnx.jit
def _log_probs(model, batch):
  return token_log_probs(model, batch)


def log_probs(model, batch):
  assert batch["input_tokens"].shape == (ROWS, SEQ_LEN)
  return np.asarray(_log_probs(model, batch))


def random_conversation(rng, turns, *, empty_reasoning=None):
  """Random token ids; `empty_reasoning` = set of turn indices without reasoning (default: random)."""
  out = []
  for t in range(turns):
    no_reasoning = (rng.random() < 0.3) if empty_reasoning is None else (t in empty_reasoning)
    user = rng.integers(2, VOCAB, size=rng.integers(1, 7))
    reasoning = [] if no_reasoning else rng.integers(2, VOCAB, size=rng.integers(1, 9))
    answer = np.append(rng.integers(2, VOCAB, size=rng.integers(1, 4)), EOT)
    out.append((user, reasoning, answer))
  return layout.make_turns(out)


def trained(lp, batch, placement, turn_of=None):
  """(targets, log-probs) of the weighted tokens of one placed example, split by turn id."""
  row, start, n = placement
  sl = slice(start, start + n)
  w = batch["loss_weights"][row, sl] > 0
  tgt, val = batch["target_tokens"][row, sl][w], lp[row, sl][w]
  if turn_of is None:
    return [(tgt, val)]
  turns = batch[turn_of][row, sl][w]
  return [(tgt[turns == t], val[turns == t]) for t in np.unique(turns)]


def n_pass_reference(model, convs):
  examples = [e for c in convs for e in layout.n_pass_examples(c)]
  batch, places = pack(examples, SEQ_LEN, ROWS)
  lp = log_probs(model, batch)
  per_conv, i = [], 0
  for c in convs:
    per_conv.append([trained(lp, batch, places[i + t])[0] for t in range(len(c))])
    i += len(c)
  return per_conv


def single_pass(model, convs, rows=ROWS):
  batch, places = pack([layout.single_pass_example(c) for c in convs], SEQ_LEN, rows)
  lp = log_probs(model, batch)
  return [trained(lp, batch, p, "turn_ids") for p in places], batch


def assert_same(sp, ref, convs):
  for c, (got, want, conv) in enumerate(zip(sp, ref, convs)):
    assert len(got) == len(want) == len(conv), f"conversation {c}: turn counts differ"
    for t, ((g_tgt, g_lp), (w_tgt, w_lp), turn) in enumerate(zip(got, want, conv)):
      np.testing.assert_array_equal(g_tgt, w_tgt, err_msg=f"conversation {c} turn {t}: targets differ")
      assert g_tgt.size == turn.reasoning.size + turn.answer.size
      first_answer = turn.reasoning.size  # index of the first answer token among the turn's trained tokens
      assert abs(g_lp[first_answer] - w_lp[first_answer]) < TOL, f"conv {c} turn {t}: first answer token"
      np.testing.assert_allclose(g_lp, w_lp, atol=TOL, rtol=0, err_msg=f"conversation {c} turn {t}")


def test_every_trained_token_matches_n_pass_packed_rows(model):
  rng = np.random.default_rng(0)
  convs = [random_conversation(rng, n) for n in (3, 1, 4, 2, 5, 1, 3)]
  sp, batch = single_pass(model, convs)
  # Several conversations share a row: the packed case is really exercised.
  assert (batch["segment_ids"].max(axis=1) >= 2).any()
  assert_same(sp, n_pass_reference(model, convs), convs)


def test_turns_without_reasoning_and_one_turn_conversations(model):
  rng = np.random.default_rng(1)
  convs = [random_conversation(rng, 1, empty_reasoning=set()),
           random_conversation(rng, 1, empty_reasoning={0}),
           random_conversation(rng, 4, empty_reasoning={0, 1, 2, 3}),
           random_conversation(rng, 4, empty_reasoning={1, 3})]
  sp, _ = single_pass(model, convs)
  assert_same(sp, n_pass_reference(model, convs), convs)


def test_conversation_alone_equals_packed(model):
  """A conversation's log-probs do not depend on what it is packed with."""
  rng = np.random.default_rng(2)
  convs = [random_conversation(rng, n) for n in (2, 3, 2)]
  packed, _ = single_pass(model, convs)
  for c, conv in enumerate(convs):
    alone, _ = single_pass(model, [conv])
    for (a_t, a_lp), (p_t, p_lp) in zip(alone[0], packed[c]):
      np.testing.assert_array_equal(a_t, p_t)
      np.testing.assert_allclose(a_lp, p_lp, atol=TOL, rtol=0)


def authors_shift_layout(turns):
  """The released code's layout: u r a(copy A) a(copy B) per turn, labels = the row shifted by one."""
  tokens, positions, turn_ids, kinds, is_output = [], [], [], [], []
  pos = 0
  for turn, t in enumerate(turns, start=1):
    blocks = [(t.user, pos, layout.SOURCE, False), (t.reasoning, pos + t.user.size, layout.REASONING, True),
              (t.answer, pos + t.user.size, layout.ANSWER_A, False),
              (t.answer, pos + t.user.size + t.reasoning.size, layout.ANSWER_B, True)]
    for ids, p0, kind, out in blocks:
      tokens.append(ids)
      positions.append(p0 + np.arange(ids.size))
      turn_ids.append(np.full(ids.size, turn))
      kinds.append(np.full(ids.size, kind))
      is_output.append(np.full(ids.size, out))
    pos += t.user.size + t.answer.size
  cat = lambda xs, dt=np.int32: np.concatenate(xs).astype(dt)
  seq, out = cat(tokens), cat(is_output, bool)
  return dict(input_tokens=seq[:-1], target_tokens=seq[1:], loss_weights=out[1:].astype(np.float32),
              positions=cat(positions)[:-1], turn_ids=cat(turn_ids)[:-1], block_kinds=cat(kinds)[:-1])


def test_authors_shift_by_one_gets_the_first_answer_token_wrong(model):
  rng = np.random.default_rng(3)
  convs = [random_conversation(rng, 3, empty_reasoning=set()),
           random_conversation(rng, 2, empty_reasoning={1})]
  ref = n_pass_reference(model, convs)
  batch, places = pack([authors_shift_layout(c) for c in convs], SEQ_LEN, ROWS)
  lp = log_probs(model, batch)
  got = [trained(lp, batch, p, "turn_ids") for p in places]
  wrong = 0
  for c, conv in enumerate(convs):
    for t, turn in enumerate(conv):
      (g_tgt, g_lp), (w_tgt, w_lp) = got[c][t], ref[c][t]
      np.testing.assert_array_equal(g_tgt, w_tgt)  # same tokens are trained...
      first = turn.reasoning.size
      others = np.arange(g_lp.size) != first
      # ...every other token agrees, so the failure below is specific to the first answer token
      np.testing.assert_allclose(g_lp[others], w_lp[others], atol=TOL, rtol=0)
      wrong += abs(g_lp[first] - w_lp[first]) > 1e-3
  # Every turn, even one without reasoning: a_t[0] is predicted from copy A's last token (wrong position).
  assert wrong == sum(len(c) for c in convs) == 5


def test_visibility_is_needed(model):
  """Without the rule (plain causal over the single-pass row) the log-probs differ: the test can fail."""
  rng = np.random.default_rng(4)
  convs = [random_conversation(rng, 3, empty_reasoning=set())]
  batch, places = pack([layout.single_pass_example(c) for c in convs], SEQ_LEN, ROWS)
  plain = {k: v for k, v in batch.items() if k not in layout.VISIBILITY_KEYS}
  lp = np.asarray(jax.jit(lambda b: token_log_probs(model, b))(plain))
  got = trained(lp, batch, places[0], "turn_ids")
  ref = n_pass_reference(model, convs)[0]
  assert max(np.abs(g[1] - w[1]).max() for g, w in zip(got, ref)) > 1e-3


def test_visibility_matches_the_n_pass_contexts():
  """Mask level: slot j is visible from slot i iff token j is in token i's N-pass context (spelled out)."""
  from meta_rfft.model.visibility import Visibility, attention_mask
  rng = np.random.default_rng(5)
  convs = [random_conversation(rng, 3, empty_reasoning={1}), random_conversation(rng, 2)]
  batch, _ = pack([layout.single_pass_example(c) for c in convs], SEQ_LEN, 1)
  ids = {k: batch[k] for k in layout.VISIBILITY_KEYS}
  seg = batch["segment_ids"]
  index = np.arange(SEQ_LEN)[None].astype(np.int32)
  got = np.asarray(attention_mask(seg, seg, index, index, visibility=Visibility(ids, layout.RULE_NAME)))[0]
  seg, turn, kind = seg[0], ids["turn_ids"][0], ids["block_kinds"][0]

  def sees(i, j):
    if seg[i] == 0 or seg[j] != seg[i] or j > i:
      return False
    if turn[j] < turn[i]:  # earlier turns: the history holds user texts and answers only
      return kind[j] in (layout.SOURCE, layout.ANSWER_A)
    own = {layout.SOURCE: {layout.SOURCE}, layout.REASONING: {layout.SOURCE, layout.REASONING},
           layout.ANSWER_A: {layout.SOURCE, layout.ANSWER_A},
           layout.ANSWER_B: {layout.SOURCE, layout.REASONING, layout.ANSWER_B}}[kind[i]]
    return kind[j] in own

  used = int((seg > 0).sum()) + 3  # a few padding slots too
  want = np.array([[sees(i, j) for j in range(used)] for i in range(used)])
  np.testing.assert_array_equal(got[:used, :used], want)
