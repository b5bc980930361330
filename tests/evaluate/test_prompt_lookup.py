"""Prompt-lookup speculative decoding: its drafts follow the lookup rule, and its output is token for token the
plain greedy decoder's (float32), on random and trained models, scanned and unrolled, with EOS, per-row limits,
left padding, random position ids, several buckets and a sharded mesh."""
import numpy as np
import optax
import pytest

import jax
import jax.numpy as jnp
from flax import nnx

from meta_rfft.config.defaults import tiny_arch
from meta_rfft.evaluate.config import default_eval_config
from meta_rfft.evaluate.decode import GreedyDecoder
from meta_rfft.evaluate.prompt_lookup import lookup_drafts
from meta_rfft.model.config import from_hf_config
from meta_rfft.model.decoder import Decoder
from meta_rfft.pipeline.config import default_config as pipeline_config
from meta_rfft.sharding.mesh import make_mesh
from meta_rfft.sharding.placement import create_sharded
from meta_rfft.sharding.rules import DEFAULT_RULES

EOS, VOCAB = 3, 32


def reference_draft(tokens: list[int], k: int, max_ngram: int) -> tuple[list[int], int]:
  """The lookup rule written out: for n = max_ngram .. 1, the most recent earlier occurrence of the last n
  tokens; the k tokens after it, continuing periodically where they run past the end."""
  for n in range(min(max_ngram, len(tokens) - 1), 0, -1):
    suffix = tokens[-n:]
    for j in range(len(tokens) - 1, n - 1, -1):  # j: where the occurrence's continuation starts
      if tokens[j - n:j] == suffix:
        period = len(tokens) - j
        return [tokens[j + m % period] for m in range(k)], n
  return None, 0


def test_drafts_follow_the_lookup_rule_on_random_rows():
  rng = np.random.default_rng(0)
  width, k, max_ngram = 40, 5, 3
  rows, lengths, starts = [], [], []
  for _ in range(64):
    start = int(rng.integers(0, 10))
    length = int(rng.integers(start + 1, width - 2))
    row = np.full(width, 99, np.int32)  # padding and stale slots hold a token that also occurs in rows
    row[start:length] = rng.integers(0, 4, size=length - start)  # 4 symbols: many repeats, some misses
    row[length:] = rng.integers(0, 4, size=width - length)
    rows.append(row), lengths.append(length), starts.append(start)
  drafts, matched = jax.jit(lookup_drafts, static_argnames=("draft_tokens", "max_ngram"))(
      jnp.asarray(np.stack(rows)), jnp.asarray(lengths, jnp.int32), jnp.asarray(starts, jnp.int32),
      draft_tokens=k, max_ngram=max_ngram)
  drafts, matched = np.asarray(drafts), np.asarray(matched)
  seen = set()
  for i, (row, length, start) in enumerate(zip(rows, lengths, starts)):
    want, n = reference_draft(row[start:length].tolist(), k, max_ngram)
    assert matched[i] == n, (i, row[start:length])
    if n:
      assert drafts[i].tolist() == want, (i, row[start:length])
    seen.add(n)
  assert seen == {0, 1, 2, 3}  # every match length, and rows with none, were exercised


def _tiny_config(**kw):
  hf = tiny_arch(VOCAB, hidden_size=32, layers=2, heads=4, kv_heads=2, intermediate_size=64)
  hf.update(eos_token_id=EOS, **kw)
  return from_hf_config(hf)


def _periodic_rows(rng, count: int, length: int) -> np.ndarray:
  """Rows repeating a random pattern of 2-5 tokens; a third of the patterns contain EOS."""
  rows = []
  for _ in range(count):
    pattern = rng.integers(4, VOCAB, size=int(rng.integers(2, 6)))
    if rng.random() < 1 / 3:
      pattern[rng.integers(len(pattern))] = EOS
    rows.append(np.resize(pattern, length))
  return np.stack(rows).astype(np.int32)


@pytest.fixture(scope="module")
def trained():
  """A tiny model trained to continue periodic rows: most drafts are accepted, and EOS falls inside
  accepted runs."""
  cfg = _tiny_config()
  model = Decoder(cfg, rngs=nnx.Rngs(0))
  opt = nnx.Optimizer(model, optax.adam(3e-3), wrt=nnx.Param)

  @nnx.jit
  def step(model, opt, x):
    def loss_fn(m):
      logits, _ = m(x[:, :-1])
      return optax.softmax_cross_entropy_with_integer_labels(logits, x[:, 1:]).mean()
    loss, grads = nnx.value_and_grad(loss_fn)(model)
    opt.update(model, grads)
    return loss

  rng = np.random.default_rng(0)
  first = float(step(model, opt, _periodic_rows(rng, 32, 32)))
  for _ in range(300):
    loss = float(step(model, opt, _periodic_rows(rng, 32, 32)))
  assert loss < 0.6 * first
  return cfg, model


@pytest.fixture(scope="module")
def random_model():
  cfg = _tiny_config(initializer_range=0.3)  # peaked logits: no argmax near-ties for float noise to flip
  return cfg, Decoder(cfg, rngs=nnx.Rngs(1))


def _prompts(seed: int):
  rng = np.random.default_rng(seed)
  rows = _periodic_rows(rng, 6, 16)
  return [rows[i, :n].tolist() for i, n in enumerate((5, 9, 14, 7, 3, 11))] + [[9], [12, 12]]


LIMITS = [20, 30, 12, 25, 17, 40, 9, 1]  # with batch 4: two batches, generation buckets 32 and 64


def _both(model, prompts, limits, positions=None, **kw):
  plain = GreedyDecoder(model, batch_size=4, eos_ids=EOS, **kw)
  fast = GreedyDecoder(model, batch_size=4, eos_ids=EOS, method="prompt_lookup", draft_tokens=5, max_ngram=3,
                       **kw)
  return plain.decode(prompts, limits, positions), fast.decode(prompts, limits, positions), plain, fast


@pytest.mark.parametrize("scan_layers", [True, False])
def test_prompt_lookup_equals_greedy_on_a_trained_model(trained, scan_layers):
  cfg, model = trained
  if not scan_layers:
    model = Decoder(cfg.replace(scan_layers=False), rngs=nnx.Rngs(0))
    nnx.update(model, nnx.state(trained[1]))
  prompts = _prompts(1)
  plain, fast, plain_dec, fast_dec = _both(model, prompts, LIMITS)
  assert fast == plain
  assert fast_dec.stats.compiles == 2 and plain_dec.stats.tokens_per_forward == 1.0
  assert fast_dec.stats.tokens_per_forward > 2.0  # the drafts really were accepted, several at a time
  assert any(row[-1] == EOS and len(row) < limit for row, limit in zip(plain, LIMITS))  # stopped at EOS
  assert any(len(row) == limit and EOS not in row for row, limit in zip(plain, LIMITS))  # stopped at the limit
  for row, limit, forwards in zip(fast, LIMITS, fast_dec.last_forwards[-4:]):
    assert 1 <= forwards <= len(row)


def test_prompt_lookup_equals_greedy_on_a_random_model_with_random_positions(random_model):
  _, model = random_model
  prompts = _prompts(2)
  rng = np.random.default_rng(3)
  positions = [np.sort(rng.choice(200, size=len(p) + n, replace=False)) for p, n in zip(prompts, LIMITS)]
  plain, fast, _, _ = _both(model, prompts, LIMITS, positions)
  assert fast == plain
  contiguous, _, _, _ = _both(model, prompts, LIMITS)
  assert contiguous != plain  # the position ids were really used


def test_stop_sequences_end_rows_alike_in_both_methods(trained):
  _, model = trained
  prompts = _prompts(5)
  free, _, _, _ = _both(model, prompts, LIMITS)
  long_row = max(free, key=len)
  stops = [tuple(long_row[6:8]), (EOS + 1, EOS + 2, EOS + 3)]  # one that occurs, one that (likely) never does

  def cut(row):  # the reference: the free-running row through the end of its first stop sequence
    for j in range(len(row)):
      if any(tuple(row[max(0, j + 1 - len(s)):j + 1]) == s for s in stops):
        return row[:j + 1]
    return row
  plain, fast, plain_dec, _ = _both(model, prompts, LIMITS, stop_sequences=stops)
  assert plain == fast == [cut(r) for r in free]
  assert sum(len(a) < len(b) for a, b in zip(plain, free)) >= 1
  assert plain_dec.last_forwards == [len(r) for r in plain[-len(plain_dec.last_forwards):]]


def test_prompt_lookup_on_a_sharded_mesh_equals_one_device(trained):
  cfg, model = trained
  prompts = _prompts(4)
  single = GreedyDecoder(model, batch_size=4, eos_ids=EOS).decode(prompts, LIMITS)
  mesh = make_mesh((2, 2, 2))
  sharded = create_sharded(lambda: Decoder(cfg, rngs=nnx.Rngs(0)), mesh, DEFAULT_RULES)
  nnx.update(sharded, jax.tree.map(lambda new, old: jax.device_put(new, old.sharding), nnx.state(model),
                                   nnx.state(sharded)))
  dec = GreedyDecoder(sharded, batch_size=4, eos_ids=EOS, mesh=mesh, rules=DEFAULT_RULES, method="prompt_lookup",
                      draft_tokens=3, max_ngram=2)
  with jax.set_mesh(mesh):
    assert dec.decode(prompts, LIMITS) == single
  assert dec.stats.tokens_per_forward > 1.5


def test_bad_decoding_settings_are_named(random_model):
  _, model = random_model
  with pytest.raises(ValueError, match="decoding.method must be one of"):
    GreedyDecoder(model, method="beam")
  with pytest.raises(ValueError, match="decoding.draft_tokens and decoding.max_ngram must be >= 1"):
    GreedyDecoder(model, method="prompt_lookup", draft_tokens=0)


def test_evaluations_decode_with_prompt_lookup_unless_told():
  assert default_eval_config().decoding.method == pipeline_config().eval.decoding.method == "prompt_lookup"


@pytest.mark.parametrize("override, message", [
    ("--config.decoding.method=beam", "config.decoding.method must be one of"),
    ("--config.decoding.draft_tokens=0", "config.decoding.draft_tokens must be >= 1, got 0"),
    ("--config.decoding.max_ngram=-1", "config.decoding.max_ngram must be >= 1, got -1"),
    ("--config.decoding.draft_tokens=100000",
     "config.decoding.draft_tokens=100000 exceeds the shortest generation buffer (config.new_token_buckets), 16"),
    ("--config.decoding.max_ngram=3000",
     "config.decoding.max_ngram=3000 exceeds the shortest prompt buffer (config.prompt_buckets), 16")])
def test_bad_decoding_config_is_named_before_anything_is_written(tmp_path, capsys, override, message):
  from meta_rfft.evaluate.__main__ import main
  run = tmp_path / "run"
  assert main(["--config=configs/eval.py", f"--workdir={run}", "--config.checkpoint=/nonexistent", override]) == 2
  assert message in capsys.readouterr().err
  assert not (run / "eval").exists()
