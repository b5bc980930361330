"""Exact resume through `python -m meta_rfft.train` (subprocesses): a SIGTERM, then a SIGKILL at a random step,
then the same command to the end give exactly the uninterrupted run's losses and parameters; a corrupt latest
checkpoint falls back to the previous one; a NaN loss stops the run and keeps the last good checkpoint.
"""
from __future__ import annotations

import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from meta_rfft.config.loader import load_config
from meta_rfft.model.config import from_run_config
from meta_rfft.sharding.mesh import mesh_from_config
from meta_rfft.sharding.rules import normalize_rules
from meta_rfft.train import random_tokens, run_state, trainer
from meta_rfft.train.checkpointing import Checkpoints
from train_helpers import BATCH, SEQ_LEN, TINY_OVERRIDES, VOCAB, tiny_config

pytestmark = pytest.mark.heavy  # started first: see tests/conftest.py

ROOT = pathlib.Path(__file__).resolve().parents[2]
STEPS = 120
ARGS = ["--config=configs/rf_pretrain.py:tiny", *TINY_OVERRIDES, f"--config.train.steps={STEPS}",
        "--config.checkpoint.every=7", "--config.checkpoint.keep=3", "--config.eval.every=25",
        "--config.eval.batches=1", "--config.log_every=1000"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
  # The four runs compile the same programs: a persistent compilation cache makes runs 2-4 load them.
  return dict(os.environ, JAX_DEFAULT_MATMUL_PRECISION="highest",
              JAX_COMPILATION_CACHE_DIR=str(tmp_path_factory.mktemp("jax_cache")),
              JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")


def _start(workdir, env):
  return subprocess.Popen([sys.executable, "-m", "meta_rfft.train", *ARGS, f"--workdir={workdir}"], cwd=ROOT,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _metrics(workdir) -> list[dict]:
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  with open(path) as f:
    lines = f.read().splitlines()
  return [json.loads(line) for line in lines if line.endswith("}")]  # the last line may be half-written


def _wait_for_step(proc, workdir, step: int) -> int:
  while True:
    done = _metrics(workdir)
    if done and done[-1]["step"] >= step:
      return done[-1]["step"]
    assert proc.poll() is None, f"run ended before step {step}:\n{proc.stdout.read()[-3000:]}"
    time.sleep(0.01)


def _finish(proc, expected_rc=0) -> str:
  out, _ = proc.communicate(timeout=600)
  assert proc.returncode == expected_rc, f"exit {proc.returncode}, expected {expected_rc}:\n{out[-4000:]}"
  return out


def _params_at(workdir, step):
  with ocp.PyTreeCheckpointer() as ckptr:
    return ckptr.restore(os.path.join(workdir, "checkpoints", str(step), "params"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory, env):
  """(uninterrupted workdir, interrupted workdir)."""
  ref = tmp_path_factory.mktemp("uninterrupted")
  _finish(_start(ref, env))
  run = tmp_path_factory.mktemp("interrupted")
  proc = _start(run, env)
  _wait_for_step(proc, run, 10)
  proc.send_signal(signal.SIGTERM)  # preemption: save the current step and exit 143
  out = _finish(proc, expected_rc=143)
  stopped = _metrics(run)[-1]["step"]
  assert f"SIGTERM: saving step {stopped}" in out
  assert stopped in Checkpoints(run, keep=3).all_steps()

  proc = _start(run, env)
  kill_after = stopped + random.randint(3, 40)
  print(f"SIGKILL once step {kill_after} is logged")  # shown on failure: the moment is random
  killed_at = _wait_for_step(proc, run, kill_after)
  proc.kill()
  proc.wait()
  assert proc.returncode == -signal.SIGKILL and killed_at < STEPS
  after_kill = {"checkpoint": max(Checkpoints(run, keep=3).all_steps()), "tensorboard": _tensorboard_steps(run)}
  _finish(_start(run, env))
  return ref, run, after_kill


def _tensorboard_steps(workdir) -> list[int]:
  """The steps of every `loss` scalar in WORKDIR/tensorboard's event files, in the order written."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  (TensorFlow's reader of TensorBoard files)
  steps = []
  for path in sorted(pathlib.Path(workdir, "tensorboard").glob("events.out.tfevents.*")):
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      steps += [event.step for v in event.summary.value if v.tag == "loss"]
  return steps


def test_tensorboard_keeps_every_step_up_to_the_checkpoint_a_sigkill_left(runs):
  _, run, after_kill = runs
  step = after_kill["checkpoint"]
  assert set(range(1, step + 1)) <= set(after_kill["tensorboard"]), (step, after_kill["tensorboard"])
  # After the resume, every step of the run is there.
  assert set(_tensorboard_steps(run)) == set(range(1, STEPS + 1))


def test_kill_and_resume_reproduce_the_uninterrupted_run_exactly(runs):
  ref, run, _ = runs
  expected, got = _metrics(ref), _metrics(run)
  assert [m["step"] for m in got] == list(range(1, STEPS + 1))  # each step once: the lost tail was dropped
  assert [m["loss"] for m in got] == [m["loss"] for m in expected]
  assert [m.get("val_loss") for m in got] == [m.get("val_loss") for m in expected]
  assert len({m["loss"] for m in expected}) > STEPS // 2  # a real curve (random tokens: no trend to expect)
  jax.tree.map(np.testing.assert_array_equal, _params_at(run, STEPS), _params_at(ref, STEPS))


def test_corrupt_latest_checkpoint_falls_back_to_the_previous(runs):
  ref, run, _ = runs
  steps = Checkpoints(ref, keep=3).all_steps()
  assert steps[-1] == STEPS and len(steps) >= 2
  # Truncate every array file of the latest step's params, as a disk filling up mid-write would.
  for path in (pathlib.Path(ref) / "checkpoints" / str(STEPS) / "params").rglob("*"):
    if path.is_file() and path.stat().st_size > 100 and "metadata" not in path.name:
      path.write_bytes(path.read_bytes()[:50])
  config, _ = load_config(ARGS)
  mesh = mesh_from_config(config.mesh)
  setup = run_state.build(config, from_run_config(config.model), mesh, normalize_rules(dict(config.sharding.rules)),
                          global_batch=BATCH, seq_len=SEQ_LEN)
  warnings = []
  it = random_tokens.RandomTokenBatches(BATCH, SEQ_LEN, VOCAB, seed=int(config.data.seed))
  restored = Checkpoints(ref, keep=3, warn=warnings.append).restore_latest(
      params=setup.parts.abstract_params, adapters={}, opt_state=setup.opt_abstract, iterator=it)
  assert restored.step == steps[-2]
  assert any(f"checkpoints/{STEPS} is unreadable" in w and f"falling back to step {steps[-2]}" in w
             for w in warnings), warnings
  assert it.index == steps[-2]  # the data position of that step
  # What the fallback restored is what the interrupted-and-resumed run wrote at that step.
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(restored.params), _params_at(run, steps[-2]))
  # The unreadable step was moved aside, out of the way of the step the resumed run saves again.
  aside = list((pathlib.Path(ref) / "checkpoints_unreadable").iterdir())
  assert [p.name.split("-")[0] for p in aside] == [str(STEPS)] and any(str(aside[0]) in w for w in warnings)
  assert not (pathlib.Path(ref) / "checkpoints" / str(STEPS)).exists()


def test_rerun_after_an_unreadable_checkpoint_recovers_by_itself(runs, env):
  """The trainer itself on a run whose latest checkpoint lost its data-iterator state: it sets the step aside,
  resumes from the previous one and saves the last step again, exactly as the uninterrupted run had it."""
  _, run, _ = runs
  steps = Checkpoints(run, keep=3).all_steps()
  for path in (pathlib.Path(run) / "checkpoints" / str(STEPS) / "data").rglob("*"):
    if path.is_file():
      path.unlink()
  expected = _params_at(run, STEPS)
  out = _finish(_start(run, env))
  assert f"checkpoints/{STEPS} is unreadable" in out and "checkpoints_unreadable" in out
  assert Checkpoints(run, keep=3).all_steps()[-1] == STEPS
  jax.tree.map(np.testing.assert_array_equal, _params_at(run, STEPS), expected)
  assert steps[-2] in Checkpoints(run, keep=3).all_steps()
  out = _finish(_start(run, env))  # and a further rerun finds a finished run, with nothing to fall back from
  assert "unreadable" not in out


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
  # A learning rate of 1e30 makes the first update blow the weights up: the second step's loss is not finite.
  config = tiny_config(train={"steps": 5}, optim={"learning_rate": 1e30, "warmup_steps": 0, "schedule": "constant"},
                       checkpoint={"every": 1}, eval={"every": 0})
  with pytest.raises(trainer.NonFiniteLoss, match=r"at step 2; stopping without saving\. Last good checkpoint: "
                     r".*checkpoints/1"):
    trainer.train(config, str(tmp_path))
  assert Checkpoints(tmp_path, keep=3).all_steps() == [1]
  assert [m["step"] for m in _metrics(tmp_path)] == [1]


def test_converted_checkpoint_init_and_early_stopping(tmp_path):
  """Starts from a converted HF checkpoint (its files copied to WORKDIR/hf) and stops early.

  Learning rate 0: the weights stay the converted ones, and the validation loss never improves on the first
  evaluation, so with patience 2 the run stops at the third evaluation (step 3) and saves that step.
  """
  import transformers  # pylint: disable=g-import-not-at-top
  from meta_rfft.convert.checkpoint import load_params  # pylint: disable=g-import-not-at-top
  from meta_rfft.convert.importer import hf_to_orbax  # pylint: disable=g-import-not-at-top
  hf_dir, ckpt = tmp_path / "hf_model", tmp_path / "ckpt"
  hf_cfg = transformers.Qwen2Config(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                    num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
  transformers.Qwen2ForCausalLM(hf_cfg).save_pretrained(hf_dir)
  (hf_dir / "tokenizer_config.json").write_text('{"eos_token": "<|endoftext|>"}')
  hf_to_orbax(str(hf_dir), str(ckpt))
  workdir = tmp_path / "run"
  config = tiny_config(train={"steps": 10}, optim={"learning_rate": 0.0, "warmup_steps": 0, "schedule": "constant"},
                       eval={"every": 1, "early_stopping_patience": 2}, checkpoint={"every": 0},
                       init={"checkpoint": str(ckpt)})
  result = trainer.train(config, str(workdir))
  assert result.stop_reason == "early_stopping" and result.step == 3
  assert len(set(result.val_losses.values())) == 1
  assert Checkpoints(workdir, keep=3).all_steps() == [3]
  meta = ocp.Checkpointer(ocp.JsonCheckpointHandler()).restore(os.path.join(workdir, "checkpoints", "3", "meta"))
  assert meta["evals_since_best"] == 2 and meta["best_val_loss"] == result.val_losses[1]
  assert {"config.json", "tokenizer_config.json"} <= set(os.listdir(workdir / "hf"))
  converted = load_params(str(ckpt / "params"), jax.tree.map(np.asarray, jax.device_get(result.trainable)))
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(result.trainable), converted)
