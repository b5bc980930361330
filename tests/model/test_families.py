"""Qwen3 and Gemma 3 (text) in the decoder beyond the logit parity tests/convert checks: sliding-window layers
(a visibility rule on position ids) in packed rows whose examples straddle the window, scanned and unrolled alike;
KV-cache decoding past the window, greedy and with prompt lookup, equal to uncached argmax; bfloat16 tracking
float32; the hand-written backward passes of Gemma's norm and GeGLU against autodiff; the published configs read;
options the decoder does not implement refused by name."""
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from meta_rfft.evaluate.decode import GreedyDecoder, greedy_uncached
from meta_rfft.model import Decoder, KVCache, from_hf_config
from meta_rfft.model import custom_grads
from meta_rfft.model.config import architecture_from_hf

WINDOW = 4
GEMMA = dict(model_type="gemma3_text", vocab_size=61, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
             num_attention_heads=4, num_key_value_heads=2, head_dim=8, query_pre_attn_scalar=12,
             sliding_window=WINDOW, layer_types=["sliding_attention", "full_attention", "sliding_attention"],
             rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 777.0},
                              "full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}},
             initializer_range=0.3, eos_token_id=3, max_position_embeddings=256)
QWEN3 = dict(model_type="qwen3", vocab_size=61, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, head_dim=16, rope_theta=5000.0, initializer_range=0.3,
             eos_token_id=3, tie_word_embeddings=True)
EOS = 3
CONFIGS = pathlib.Path(__file__).parent / "hub_configs"


def _model(arch, **run):
  return Decoder(from_hf_config(arch, **run), rngs=nnx.Rngs(2))


@pytest.mark.parametrize("scan_layers", [True, False])
def test_packed_rows_straddling_the_window_equal_examples_one_by_one(scan_layers):
  model = _model(GEMMA, scan_layers=scan_layers)
  rng = np.random.default_rng(0)
  examples = [rng.integers(0, 61, size=n) for n in (7, 3, 9)]  # longer than the window, around its boundary
  row = np.zeros((1, 24), np.int32)
  positions, segments = np.zeros_like(row), np.zeros_like(row)
  start = 0
  for seg, ex in enumerate(examples, start=1):
    row[0, start:start + len(ex)] = ex
    positions[0, start:start + len(ex)] = np.arange(len(ex))
    segments[0, start:start + len(ex)] = seg
    start += len(ex)
  packed, _ = model(jnp.asarray(row), jnp.asarray(positions), jnp.asarray(segments))
  start = 0
  for ex in examples:
    alone, _ = model(jnp.asarray(ex[None]))
    np.testing.assert_allclose(np.asarray(packed)[0, start:start + len(ex)], np.asarray(alone)[0], atol=3e-5,
                               rtol=1e-5)
    start += len(ex)
  # The window matters: with a window wider than the row, positions past WINDOW see more and change.
  full = _model({**GEMMA, "sliding_window": 64}, scan_layers=scan_layers)
  nnx.update(full, nnx.state(model))
  unwindowed, _ = full(jnp.asarray(examples[2][None]))
  alone, _ = model(jnp.asarray(examples[2][None]))
  assert np.abs(np.asarray(unwindowed)[0, WINDOW:] - np.asarray(alone)[0, WINDOW:]).max() > 1e-3
  np.testing.assert_allclose(np.asarray(unwindowed)[0, :WINDOW], np.asarray(alone)[0, :WINDOW], atol=3e-5)


def test_scanned_and_unrolled_layers_agree_in_value_and_gradient():
  tokens = jnp.asarray(np.random.default_rng(3).integers(0, 61, size=(2, 11)).astype(np.int32))

  def loss_and_grad(scan_layers):
    m = _model(GEMMA, scan_layers=scan_layers)
    return nnx.value_and_grad(lambda m: jnp.mean(jax.nn.log_softmax(m(tokens)[0])[..., 7]))(m)
  (a, ga), (b, gb) = loss_and_grad(True), loss_and_grad(False)
  np.testing.assert_allclose(a, b, rtol=1e-5)
  for x, y in zip(jax.tree.leaves(ga), jax.tree.leaves(gb)):
    np.testing.assert_allclose(x, y, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("arch", [GEMMA, QWEN3], ids=["gemma3", "qwen3"])
@pytest.mark.parametrize("scan_layers", [True, False])
def test_cached_decoding_past_the_window_equals_uncached_argmax(arch, scan_layers):
  model = _model(arch, scan_layers=scan_layers)
  rng = np.random.default_rng(7)
  prompts = [rng.integers(4, 61, size=n).tolist() for n in (3, 9, 6)] + [[5, 6, 5, 6, 5, 6, 5]]
  limits = [14, 20, 9, 18]  # far past the window from every prompt
  plain = GreedyDecoder(model, batch_size=4, eos_ids=EOS).decode(prompts, limits)
  fast = GreedyDecoder(model, batch_size=4, eos_ids=EOS, method="prompt_lookup", draft_tokens=4,
                       max_ngram=2).decode(prompts, limits)
  for p, limit, a, b in zip(prompts, limits, plain, fast):
    assert a == b == greedy_uncached(model, p, limit, (EOS,))
  assert max(len(p) + len(o) for p, o in zip(prompts, plain)) > 2 * WINDOW


@pytest.mark.parametrize("arch", [GEMMA, QWEN3], ids=["gemma3", "qwen3"])
def test_bfloat16_params_and_compute_track_float32(arch):
  hi = _model(arch)
  lo = _model(arch, param_dtype="bfloat16", dtype="bfloat16")
  tokens = jnp.asarray(np.random.default_rng(4).integers(0, 61, size=(2, 12)).astype(np.int32))
  hi_logits, lo_logits = hi(tokens)[0], lo(tokens)[0]
  assert lo_logits.dtype == jnp.float32 and lo.layers.attn.q_norm.scale[...].dtype == jnp.bfloat16
  scale = float(jnp.abs(hi_logits).max())
  assert float(jnp.abs(lo_logits - hi_logits).max()) < 0.1 * scale
  assert float(jnp.mean(jnp.argmax(lo_logits, -1) == jnp.argmax(hi_logits, -1))) > 0.8
  cache = KVCache.empty(lo.config, 2, 16)
  prefill, cache = lo(tokens[:, :6], cache=cache)
  steps = [prefill]
  for i in range(6, 12):
    step, cache = lo(tokens[:, i:i + 1], positions=jnp.full((2, 1), i, jnp.int32), cache=cache)
    steps.append(step)
  assert float(jnp.abs(jnp.concatenate(steps, axis=1) - lo_logits).max()) < 0.1 * scale


def test_gemma_norm_and_geglu_backward_passes_equal_autodiff():
  rng = np.random.default_rng(5)
  x = jnp.asarray(rng.normal(size=(3, 5, 8)), jnp.float32)
  scale = jnp.asarray(0.1 * rng.normal(size=(8,)), jnp.float32)
  dy = jnp.asarray(rng.normal(size=(3, 5, 8)), jnp.float32)
  ours = jax.vjp(lambda x, s: custom_grads.rms_norm(x, s, 1e-6, 1.0), x, scale)[1](dy)
  auto = jax.vjp(lambda x, s: custom_grads.rms_norm_value(x, s, 1e-6, 1.0), x, scale)[1](dy)
  for a, b in zip(ours, auto):
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
  gate, up = (jnp.asarray(rng.normal(size=(3, 5, 12)), jnp.float32) for _ in range(2))
  kernel = jnp.asarray(rng.normal(size=(12, 8)), jnp.float32)
  ours = jax.vjp(lambda g, u, k: custom_grads.geglu_down(g, u, k, "cpu"), gate, up, kernel)[1](dy)
  auto = jax.vjp(custom_grads.geglu_down_value, gate, up, kernel)[1](dy)
  for a, b in zip(ours, auto):
    np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)


# The published sizes (model cards; Gemma 3 4B's text decoder without its 0.4B vision tower).
@pytest.mark.parametrize("name, billions", [("qwen3-0.6b", 0.6), ("qwen3-1.7b", 1.7), ("qwen3-4b", 4.0),
                                            ("qwen3-8b", 8.2), ("gemma-3-270m", 0.27), ("gemma-3-1b", 1.0),
                                            ("gemma-3-4b-text", 3.88)])
def test_published_configs_are_read(name, billions):
  arch = architecture_from_hf(json.loads((CONFIGS / f"{name}.json").read_text()))
  assert abs(arch.num_params / 1e9 - billions) < 0.02 * billions + 0.01, arch.num_params
  if arch.model_type == "gemma3_text":
    assert arch.sliding(0) and not arch.sliding(5) and arch.rope_local is not None and arch.attn_scale


@pytest.mark.parametrize("hf, message", [
    ({**QWEN3, "model_type": "qwen3_moe"}, "mixture-of-experts"),
    ({"model_type": "gemma3", "text_config": GEMMA, "vision_config": {}}, "vision tower"),
    ({**QWEN3, "use_sliding_window": True}, "qwen3 with use_sliding_window=true"),
    ({**GEMMA, "use_bidirectional_attention": True}, "use_bidirectional_attention"),
    ({**GEMMA, "attn_logit_softcapping": 50.0}, "attn_logit_softcapping"),
    ({**GEMMA, "hidden_activation": "relu"}, "hidden_activation 'relu'"),
    ({**GEMMA, "layer_types": ["sliding_attention", "chunked_attention", "full_attention"]}, "chunked_attention"),
])
def test_options_the_decoder_does_not_implement_are_refused_by_name(hf, message):
  with pytest.raises(ValueError, match=message):
    architecture_from_hf(hf)
