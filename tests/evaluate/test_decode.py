"""Batched KV-cache greedy decoding: equal to uncached argmax, to itself on a mesh, and to HF generate."""
import numpy as np
import pytest

import jax
from flax import nnx

from meta_rfft.config.defaults import tiny_arch
from meta_rfft.evaluate.decode import GreedyDecoder, bucket_length, greedy_uncached, left_pad
from meta_rfft.model.config import from_hf_config
from meta_rfft.model.decoder import Decoder
from meta_rfft.sharding.mesh import make_mesh
from meta_rfft.sharding.placement import create_sharded
from meta_rfft.sharding.rules import DEFAULT_RULES

EOS = 3


@pytest.fixture(scope="module")
def tiny():
  hf = tiny_arch(64, hidden_size=32, layers=2, heads=4, kv_heads=2, intermediate_size=64)
  # A larger init std makes logits peaked: argmax then has no near-ties for float noise to flip.
  hf.update(initializer_range=0.3, eos_token_id=EOS)
  cfg = from_hf_config(hf)
  return cfg, Decoder(cfg, rngs=nnx.Rngs(0))


@pytest.fixture(scope="module")
def prompts():
  rng = np.random.default_rng(7)
  return [rng.integers(4, 64, size=n).tolist() for n in (3, 9, 14, 5, 1)]


def test_bucket_length():
  assert bucket_length(1) == 8 and bucket_length(9) == 16 and bucket_length(64) == 64
  assert bucket_length(5, (4, 12, 40)) == 12
  with pytest.raises(ValueError, match="prompt length 50 exceeds the largest configured bucket 40"):
    bucket_length(50, (4, 12, 40), what="prompt length")


def test_left_pad_marks_padding_and_positions():
  tokens, segments, positions = left_pad([[5, 6], [7, 8, 9]], 4, 3, pad_id=0)
  assert tokens.tolist() == [[0, 0, 5, 6], [0, 7, 8, 9], [0, 0, 5, 6]]
  assert segments.tolist() == [[0, 0, 1, 1], [0, 1, 1, 1], [0, 0, 1, 1]]
  assert positions.tolist() == [[0, 0, 0, 1], [0, 0, 1, 2], [0, 0, 0, 1]]
  with pytest.raises(ValueError, match="prompt 0 is empty"):
    left_pad([[]], 4, 1, pad_id=0)
  _, _, given = left_pad([[5, 6], [7, 8, 9]], 4, 2, pad_id=0, prompt_positions=[[3, 10], [1, 4, 9]])
  assert given.tolist() == [[0, 0, 3, 10], [0, 1, 4, 9]]


@pytest.mark.parametrize("scan_layers", [True, False])
def test_cached_equals_uncached_argmax_with_per_row_limits(tiny, prompts, scan_layers):
  cfg, model = tiny
  if not scan_layers:  # the evaluation's default: unrolled layers, one cache buffer per layer
    model = Decoder(cfg.replace(scan_layers=False), rngs=nnx.Rngs(0))
  limits = [12, 20, 7, 3, 20]  # both batches bucket to (16, 32)
  dec = GreedyDecoder(model, batch_size=4)  # 5 prompts: a full batch and a padded one, same program
  out = dec.decode(prompts, limits)
  assert dec.stats.compiles == 1 and dec.stats.batches == 2
  for p, limit, o in zip(prompts, limits, out):
    ref = greedy_uncached(model, p, limit, (EOS,))
    assert o == ref
    assert len(o) == limit or o[-1] == EOS
  # At least one row must be long enough to make the comparison meaningful (not all stopping at once).
  assert max(len(o) for o in out) >= 7


def test_cached_decoding_with_random_positions_equals_uncached(tiny, prompts):
  from meta_rfft.data.positions import random_positions
  cfg, model = tiny
  model = Decoder(cfg.replace(scan_layers=False), rngs=nnx.Rngs(0))
  limits = [12, 20, 7, 3, 20]
  ids = [random_positions(len(p) + n, 400, (9, i)) for i, (p, n) in enumerate(zip(prompts, limits))]
  dec = GreedyDecoder(model, batch_size=4)
  out = dec.decode(prompts, limits, ids)
  for p, limit, o, row_ids in zip(prompts, limits, out, ids):
    assert o == greedy_uncached(model, p, limit, (EOS,), positions=row_ids)
  # The ids matter: contiguous ones decode something else for at least one row.
  assert dec.decode(prompts, limits) != out
  # Only differences matter to RoPE: shifting every id of a row by a constant changes nothing.
  shifted = dec.decode(prompts, limits, [row + 37 for row in ids])
  assert shifted == out
  with pytest.raises(ValueError, match=r"positions\[0\] has 3 ids; prompt 0 \(3 tokens\) with a limit of 12"):
    dec.decode(prompts[:1], limits[:1], [ids[0][:3]])
  with pytest.raises(ValueError, match="must increase strictly"):
    dec.decode(prompts[:1], limits[:1], [ids[0][::-1]])


def test_sharded_decoding_matches_single_device(tiny, prompts):
  cfg, model = tiny
  single = GreedyDecoder(model, batch_size=4).decode(prompts, 10)
  mesh = make_mesh((2, 2, 2))
  sharded_model = create_sharded(lambda: Decoder(cfg, rngs=nnx.Rngs(0)), mesh, DEFAULT_RULES)
  dec = GreedyDecoder(sharded_model, batch_size=4, mesh=mesh, rules=DEFAULT_RULES)
  with jax.set_mesh(mesh):
    assert dec.decode(prompts, 10) == single


def test_decoder_rejects_bad_inputs(tiny):
  _, model = tiny
  dec = GreedyDecoder(model, batch_size=2, prompt_buckets=(16,))
  with pytest.raises(ValueError, match="more than batch_size=2"):
    dec.decode_batch([[5], [6], [7]], 4)
  with pytest.raises(ValueError, match="prompt length 20 exceeds"):
    dec.decode([[5] * 20], 4)
  with pytest.raises(ValueError, match="max_new_tokens must be >= 1"):
    dec.decode([[5]], 0)


def test_evaluation_decodes_unrolled_on_cpu_unless_told():
  from meta_rfft.config.loader import load_config
  from meta_rfft.evaluate.config import decode_scan_layers
  cpu = jax.devices("cpu")
  cfg, _ = load_config(["--config=configs/eval.py"])
  assert cfg.model.scan_layers is None and decode_scan_layers(cfg.model.scan_layers, cpu) is False
  for text, want in (("true", True), ("false", False)):
    cfg, _ = load_config(["--config=configs/eval.py", f"--config.model.scan_layers={text}"])
    assert cfg.model.scan_layers is want and decode_scan_layers(cfg.model.scan_layers, cpu) is want
