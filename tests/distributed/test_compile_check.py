"""compile_only: per-device memory of a sharded jitted step, checked against a budget, without running it."""
import jax
import jax.numpy as jnp
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from meta_rfft import distributed
from meta_rfft.distributed import compile_check


@pytest.fixture(scope="module")
def step_and_inputs():
  mesh = distributed.make_global_mesh((1, 4, 1), devices=jax.devices()[:4])

  @jax.jit
  def step(w, x):
    loss, g = jax.value_and_grad(lambda w: jnp.mean(jnp.tanh(x @ w) ** 2))(w)
    return w - 0.1 * g, loss

  w = jax.ShapeDtypeStruct((512, 256), jnp.float32, sharding=NamedSharding(mesh, P("fsdp", None)))
  x = jax.ShapeDtypeStruct((64, 512), jnp.float32, sharding=NamedSharding(mesh, P("fsdp", None)))
  return step, w, x


def test_report_counts_per_device_shards(step_and_inputs):
  step, w, x = step_and_inputs
  report = distributed.measure(step, w, x)
  # Arguments are the per-device shards: a quarter of each input, not the global arrays.
  assert report.arguments == (512 * 256 + 64 * 512) * 4 // 4
  assert report.total >= report.arguments + report.outputs - report.aliased
  assert report.temporaries > 0


def test_budget_decides_the_exit_code_and_the_report_says_why(step_and_inputs):
  step, w, x = step_and_inputs
  total = distributed.measure(step, w, x).total
  lines = []
  assert distributed.compile_only(step, w, x, budget=total, print_fn=lines.append) == 0
  assert any("fits" in l for l in lines) and any("total per device" in l for l in lines)
  lines.clear()
  assert distributed.compile_only(step, w, x, budget=total - 1, name="tiny_step", print_fn=lines.append) == 1
  assert any("DOES NOT FIT: tiny_step" in l for l in lines), lines
  lines.clear()
  # CPU devices report no memory limit: without a budget nothing can fail.
  assert distributed.compile_only(step, w, x, print_fn=lines.append) == 0
  assert any("no device memory budget" in l for l in lines)


def test_compile_only_refuses_a_plain_function(step_and_inputs):
  _, w, x = step_and_inputs
  with pytest.raises(TypeError, match="jax.jit"):
    distributed.compile_only(lambda w, x: w, w, x, budget="1GiB")


@pytest.mark.parametrize("text, value", [
    ("16GiB", 16 * 2**30), ("80GB", 80 * 10**9), ("1.5 MiB", int(1.5 * 2**20)), ("1e9", 10**9), (4096, 4096)])
def test_parse_bytes(text, value):
  assert compile_check.parse_bytes(text) == value


@pytest.mark.parametrize("text", ["16 gigs", "-3", "GiB", -1])
def test_parse_bytes_rejects_nonsense_naming_the_key(text):
  with pytest.raises(ValueError, match="device_memory_budget"):
    compile_check.parse_bytes(text)
