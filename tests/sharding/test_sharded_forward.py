"""Sharding over 8 fake CPU devices: sharded forward == unsharded, and big weights really are split."""
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import PartitionSpec as P

from meta_rfft.model import Decoder, from_hf_config
from meta_rfft.sharding.mesh import make_mesh, resolve_shape
from meta_rfft.sharding.placement import create_sharded
from meta_rfft.sharding.rules import DEFAULT_RULES, logical_to_spec, use_sharding

ARCH = dict(model_type="qwen2", vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, rope_theta=5000.0, initializer_range=0.2,
            tie_word_embeddings=False)


@pytest.fixture(scope="module")
def cfg():
  return from_hf_config(ARCH)


@pytest.fixture(scope="module")
def batch():
  rng = np.random.default_rng(0)
  tokens = rng.integers(0, 64, size=(8, 12)).astype(np.int32)
  segments = np.ones_like(tokens)
  segments[:, 9:] = 0
  segments[3, 5:] = 2  # a packed second example
  positions = np.zeros_like(tokens)
  for b in range(8):
    for s in np.unique(segments[b]):
      idx = segments[b] == s
      positions[b, idx] = np.arange(idx.sum())
  return tokens, positions, segments


@pytest.fixture(scope="module")
def unsharded_logits(cfg, batch):
  model = Decoder(cfg, rngs=nnx.Rngs(7))
  return np.asarray(model(*map(jnp.asarray, batch))[0])


@pytest.mark.parametrize("shape", [(2, 2, 2), (1, 8, 1), (1, 2, 4), (8, 1, 1), (1, -1, 2)])
def test_sharded_forward_equals_unsharded(cfg, batch, unsharded_logits, shape):
  mesh = make_mesh(shape)
  model = create_sharded(lambda: Decoder(cfg, rngs=nnx.Rngs(7)), mesh, DEFAULT_RULES)

  @nnx.jit
  def forward(model, tokens, positions, segments):
    with use_sharding(mesh, DEFAULT_RULES):
      return model(tokens, positions, segments)[0]

  logits = forward(model, *map(jnp.asarray, batch))
  segments = batch[2]
  real = segments > 0
  np.testing.assert_allclose(np.asarray(logits)[real], unsharded_logits[real], atol=3e-5, rtol=1e-5)


def test_large_weights_are_split_across_devices(cfg):
  mesh = make_mesh((2, 2, 2))
  model = create_sharded(lambda: Decoder(cfg, rngs=nnx.Rngs(7)), mesh, DEFAULT_RULES)
  expected = {
      "embed": (P("tensor", "fsdp"), (32, 16)),
      "lm_head": (P("fsdp", "tensor"), (16, 32)),
      "q_proj": (P(None, "fsdp", "tensor", None), (2, 16, 2, 8)),
      "k_proj": (P(None, "fsdp", "tensor", None), (2, 16, 1, 8)),
      "gate_proj": (P(None, "fsdp", "tensor"), (2, 16, 32)),
      "down_proj": (P(None, "tensor", "fsdp"), (2, 32, 16)),
  }
  arrays = {"embed": model.embed[...], "lm_head": model.lm_head[...],
            "q_proj": model.layers.attn.q_proj.kernel[...], "k_proj": model.layers.attn.k_proj.kernel[...],
            "gate_proj": model.layers.mlp.gate_proj.kernel[...],
            "down_proj": model.layers.mlp.down_proj.kernel[...]}
  for name, array in arrays.items():
    spec, shard_shape = expected[name]
    assert array.sharding.spec == spec, name
    assert {s.data.shape for s in array.addressable_shards} == {shard_shape}, name
    # each device holds a quarter of these weights (2-way fsdp x 2-way tensor), not a full copy
    assert np.prod(shard_shape) * 4 == array.size, name


def test_undividable_dims_stay_replicated():
  mesh = make_mesh((1, 2, 4))
  # 2 KV heads cannot be split 4 ways: replicated along that dim, embed still on fsdp
  spec = logical_to_spec(("layers", "embed", "kv_heads", "head_dim"), (2, 32, 2, 8), mesh, DEFAULT_RULES)
  assert spec == P(None, "fsdp", None, None)
  # batch over (data, fsdp): data has size 1 and drops out
  assert logical_to_spec(("act_batch", "act_length"), (8, 5), mesh, DEFAULT_RULES) == P("fsdp", None)


def test_unknown_logical_axis_is_named():
  mesh = make_mesh((2, 2, 2))
  with pytest.raises(KeyError, match="'experts'"):
    logical_to_spec(("experts",), (4,), mesh, DEFAULT_RULES)


@pytest.mark.parametrize("shape,message", [((3, -1, 1), "not divisible"), ((2, -1, -1), "at most one"),
                                           ((2, 2, 4), "needs 16 devices")])
def test_bad_mesh_shapes_are_named(shape, message):
  with pytest.raises(ValueError, match=r"mesh\.shape.*" + message):
    resolve_shape(shape, 8)
