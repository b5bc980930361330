"""Test setup: 8 fake CPU devices (sharding tests), float32 matmuls, quiet TensorFlow, one JAX compilation cache for
the whole run; shared fixtures."""
import atexit
import os
import shutil
import tempfile

import pytest

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Most of the suite compiles the same tiny models at the same shapes, in many tests, pipeline stages and
# subprocesses: a persistent cache, empty at the start of each run and shared by the xdist workers and every
# process they start (through the environment), compiles each program once. The run that creates it removes it.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="meta_rfft_tests_jax_cache_")
  atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], True)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")

import jax  # noqa: E402  (must come after XLA_FLAGS)

jax.config.update("jax_default_matmul_precision", "highest")

from meta_rfft.tasks import registry  # noqa: E402


def pytest_collection_modifyitems(items):
  """Files marked `heavy` (minutes of end-to-end work each) run first, the many short tests after them: the two
  xdist workers, each taking whole files in this order, then finish together instead of one idling while the
  other works through a slow file that came last."""
  items.sort(key=lambda item: item.get_closest_marker("heavy") is None)


@pytest.fixture(autouse=True)
def registered_tasks_restored(monkeypatch):
  """Every test starts without exported user task modules and leaves the registry and the environment as it found
  them: loading a user module registers its tasks and exports the module to subprocesses through the
  environment, and other tests count the registered tasks and start subprocesses."""
  monkeypatch.delenv(registry.ENV_VAR, raising=False)
  before = set(registry.task_ids())
  yield
  for task_id in set(registry.task_ids()) - before:
    registry.unregister_task(task_id)


@pytest.fixture(scope="session")
def tiny_eval_checkpoint(tmp_path_factory) -> str:
  """A random 2-layer Qwen2 with a BPE tokenizer trained on nupa_length_integer's texts, converted to Orbax
  (the evaluation tests, one process and several, decode with it)."""
  from meta_rfft.convert import hf_to_orbax
  from meta_rfft.pipeline import hf_build
  from meta_rfft.tasks import formats, registry
  root = tmp_path_factory.mktemp("tiny_eval_checkpoint")
  task = registry.get_task("nupa_length_integer")
  texts = [t for s in range(6) for e in [formats.make_example(task, 1 + s % 3, s, "rf")]
           for t in (e.inputs, e.targets)]
  vocab = hf_build.train_tokenizer(texts, str(root / "hf"), 400)
  hf_build.build_qwen2(str(root / "hf"), vocab_size=vocab, eos_token_id=0, hidden_size=32, num_layers=2,
                       num_heads=4, num_kv_heads=2, intermediate_size=64, init_std=0.2)
  return hf_to_orbax(str(root / "hf"), str(root / "ckpt"))
