"""The trainer: `python -m meta_rfft.train --config=configs/FILE.py[:arg] --workdir=DIR [--config.x=y ...]`.

One program for both Meta-RFFT stages (RF-pretraining on the rule-following mixture, adaptation to a held-out
task), on one CPU, one GPU or a TPU pod. The flow, in the order of the sections below:
  mesh -> data -> model (resume > converted HF checkpoint > random init) -> step -> loop (metrics,
  validation, checkpoints) -> final save.
Running the same command again after any interruption (SIGKILL included) continues from the last complete
checkpoint and reproduces exactly what an uninterrupted run would have produced.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from typing import Any

import jax
import ml_collections

from meta_rfft import cli, distributed, io_paths, layouts
from meta_rfft.config.loader import main_with_config, save_config
from meta_rfft.convert import sources
from meta_rfft.convert.checkpoint import flatten
from meta_rfft.data import run_record
from meta_rfft.data.indexed_stream import StreamMismatch
from meta_rfft.model.config import from_run_config, load_hf_config
from meta_rfft.sharding.rules import normalize_rules
from meta_rfft.tasks import user_tasks
from meta_rfft.train import data_source, metrics as metrics_lib, run_state, step as step_lib
from meta_rfft.train.checkpointing import CheckpointMismatch, Checkpoints


class NonFiniteLoss(RuntimeError):
  """The loss (or gradient norm) became NaN/inf; the run stopped without saving the bad state."""


@dataclasses.dataclass
class Result:
  """What a finished (or stopped) run leaves behind, for tests and callers."""
  step: int
  stop_reason: str  # "done" | "early_stopping" | "preempted" | "compile_only" | "does_not_fit"
  losses: dict  # step -> training loss of the steps run by THIS invocation
  val_losses: dict  # step -> validation loss
  trainable: Any  # final trainable params (pure dict of jax.Arrays)
  frozen: Any  # final frozen params ({} for full fine-tuning)
  traces: dict  # how many times the train/eval steps were traced (compiled)


def _log(text: str) -> None:
  if jax.process_index() == 0:
    print(text, file=sys.stderr, flush=True)


def _copy_hf_files(config, hf_dir: str, workdir: str, arch: dict) -> None:
  """WORKDIR/hf/ gets the HF config + tokenizer files this run started from, for export and evaluation."""
  if jax.process_index() != 0:
    return
  dest = layouts.Workdir.at(workdir).hf
  src = hf_dir or config.model.hf_config or ""
  if src:
    folder = io_paths.resolve(src)
    if folder.is_file():
      folder = folder.parent
    for child in folder.iterdir():
      if child.is_file() and not child.name.endswith((".safetensors", ".bin", ".pt")):
        io_paths.write_bytes(dest / child.name, child.read_bytes())
  else:  # a from-scratch model: its architecture, written as the config.json a HF model of it would have
    io_paths.write_text(dest / "config.json", json.dumps(arch, indent=2, sort_keys=True))


def _config_differences(config: ml_collections.ConfigDict, workdir: str,
                        sections: tuple[str, ...] = ("model", "adapter", "init")) -> str:
  """The config keys of `sections` (by default those that shape the model) that differ from those of the run that
  wrote WORKDIR's checkpoints (WORKDIR/config.json)."""
  path = layouts.Workdir.at(workdir).config
  if not path.is_file():
    return f"{os.fspath(path)} is missing, so the differing config keys cannot be named; use another workdir"
  before = io_paths.read_json(path).get("config", {})
  now = json.loads(config.to_json_best_effort())
  keys = sorted(set(flatten({k: before.get(k) or {} for k in sections})) | set(flatten({k: now.get(k) or {}
                                                                                       for k in sections})))
  differ = run_record.differences(before, now, keys)
  if not differ:
    return (f"No {', '.join(sections)} key differs from the run's config.json"
            + (" (the contents of a data.extra file may have changed)" if "data" in sections else "")
            + "; set it back, or use another workdir")
  return ("Config keys that differ from the run that wrote them (" + os.fspath(path) + "): " + "; ".join(differ)
          + ". Set them back, or use another workdir")


def train(config: ml_collections.ConfigDict, workdir: str, argv: list[str] | None = None) -> Result:
  # ---- mesh ------------------------------------------------------------------------------------------------
  distributed.initialize(config)
  target = None
  if config.compile_topology:
    if not config.compile_only:
      raise ValueError(f"config.compile_topology={config.compile_topology!r} needs config.compile_only=true")
    target = distributed.target_devices(config.compile_topology)
  mesh = distributed.global_mesh_from_config(config.mesh, target)
  rules = normalize_rules(dict(config.sharding.rules))
  workdir = os.fspath(io_paths.resolve(workdir))  # local: absolute; gs://... (any epath URL): unchanged
  _log(f"[train] mesh {distributed.describe(mesh)}; workdir {workdir}")

  # ---- model config ----------------------------------------------------------------------------------------
  # The checkpoint source is resolved here, once: its HF config builds the model and its params seed the run.
  init_source, hf_dir = None, ""
  if config.init.checkpoint:
    init_source = sources.resolve(config.init.checkpoint)
    hf_dir, hf = init_source.hf_dir, init_source.hf_config()
  elif config.model.hf_config:
    hf = load_hf_config(config.model.hf_config)
  else:
    hf = dict(config.model.arch)
  model_cfg = from_run_config(config.model, hf)

  # ---- data ------------------------------------------------------------------------------------------------
  global_batch, tc = int(config.train.batch_size), config.train
  if global_batch % jax.process_count():
    raise ValueError(f"config.train.batch_size={global_batch} must be divisible by the {jax.process_count()} "
                     f"processes")
  host_batch = global_batch // jax.process_count()
  if config.data.get("user_tasks"):  # kept as absolute paths in WORKDIR/config.json: evaluation reads it elsewhere
    config.data.user_tasks = ",".join(user_tasks.entries(config.data.user_tasks))
  if config.compile_only:  # the step's input shapes only: no dataset, tokenizer or conversations are read
    example = data_source.example_batch(config, model_cfg, host_batch, hf_dir)
    setup = run_state.build(config, model_cfg, mesh, rules, global_batch=global_batch,
                            seq_len=example["input_tokens"].shape[1])
    batch = {k: jax.ShapeDtypeStruct((global_batch, v.shape[1]), v.dtype, sharding=setup.fns.batch_sharding)
             for k, v in example.items()}
    if jax.process_index() == 0:
      save_config(config, workdir, argv)
    code = distributed.compile_only(setup.fns.train, setup.abstract_state(), setup.frozen_abstract, batch,
                                    budget=config.device_memory_budget or None)
    return Result(0, "compile_only" if code == 0 else "does_not_fit", {}, {}, None, None, setup.fns.traces)
  recorded = run_record.read(workdir)  # the record of the run being resumed, if any
  run_record.keep_date(config.data, recorded, workdir)
  data = data_source.make(config, model_cfg, host_batch, hf_dir)  # resolves data.chat_template "auto"
  record = run_record.RunRecord.from_data_config(config.data)
  seq_len = data.seq_len
  # ---- model, optimizer, shardings, jitted steps ---------------------------------------------------------
  setup = run_state.build(config, model_cfg, mesh, rules, global_batch=global_batch, seq_len=seq_len)
  fns = setup.fns

  # ---- weights: resume > converted checkpoint > random init ------------------------------------------------
  ckpts = Checkpoints(workdir, keep=int(config.checkpoint.keep), async_save=bool(config.checkpoint.async_save),
                      warn=_log)
  try:
    restored = ckpts.restore_latest(params=setup.parts.abstract_params, adapters=setup.parts.abstract_adapters,
                                    opt_state=setup.opt_abstract, iterator=data.train)
  except CheckpointMismatch as e:
    raise ValueError(f"{e}. {_config_differences(config, workdir)}") from None
  except StreamMismatch as e:  # the checkpoints are good and stay where they are
    raise ValueError(f"refused to resume: {e}. {_config_differences(config, workdir, ('data', 'train'))}") from None
  if restored is not None:
    run_record.check_same_prompts(recorded, record, workdir)
  # Only now, with the run's checkpoints known to fit this config: WORKDIR's config, run record and HF files
  # describe them.
  if jax.process_index() == 0:
    save_config(config, workdir, argv)
    run_record.write(workdir, record)
  _copy_hf_files(config, hf_dir, workdir, hf)
  meta = {"adapter": config.adapter.to_dict(), "best_val_loss": None, "evals_since_best": 0}
  if restored is not None:
    start = restored.step
    state, frozen = run_state.make_state(setup, restored.params, restored.adapters, restored.opt_state, start)
    meta.update({k: restored.meta[k] for k in ("best_val_loss", "evals_since_best") if k in restored.meta})
    _log(f"[train] resumed from {ckpts.directory}/{start}")
  else:
    start = 0
    state, frozen = run_state.make_state(setup, *run_state.initial_weights(setup, config, init_source))
    origin = (os.fspath(io_paths.resolve(config.init.checkpoint)) if init_source
              else f"random weights (seed {config.init.seed})")
    _log(f"[train] initialised from {origin}; "
         f"{model_cfg.arch.num_params / 1e6:.2f}M parameters")

  def save(step: int) -> None:
    params, adapters = run_state.checkpoint_items(setup, state, frozen)
    ckpts.save(step, params=params, adapters=adapters, opt_state=state["opt_state"], iterator=data.train,
               meta=meta)
    writer.sync()  # on an object store, the metrics reach WORKDIR at each checkpoint (see MetricsWriter)

  # ---- metrics ---------------------------------------------------------------------------------------------
  n_trainable = setup.n_trainable
  flops_per_token = metrics_lib.train_flops_per_token(
      model_cfg, seq_len, min(1.0, n_trainable / max(1, metrics_lib.matmul_params(model_cfg))))
  peak = metrics_lib.device_peak_flops(jax.devices()[0])  # None on CPUs: no MFU rather than a made-up one
  writer = metrics_lib.MetricsWriter(workdir, resume_step=start if restored is not None else None)
  total = int(tc.steps)
  progress = metrics_lib.Progress(start, total, int(config.log_every))
  if total > start:
    _log(f"[train] steps {start}->{total}, global batch {global_batch} x {seq_len} tokens, "
         f"{int(tc.micro_batches)} micro-batch(es), {n_trainable / 1e6:.3f}M trainable parameters "
         f"({config.adapter.method}); "
         + (f"peak {peak:.3g} FLOP/s per device" if peak else "no known peak FLOP/s for this device: no MFU"))

  # ---- the loop --------------------------------------------------------------------------------------------
  # Not signal.signal: with several processes it would replace the handler JAX's preemption service listens on.
  preemption = distributed.PreemptionWatcher()
  losses, val_losses, stop_reason, step = {}, {}, "done", start
  eval_every, save_every = int(config.eval.every), int(config.checkpoint.every)
  try:
    last = time.perf_counter()
    while step < total:
      batch = step_lib.put_batch(next(data.train), fns.batch_sharding, global_batch)
      state, m = fns.train(state, frozen, batch)
      m = jax.device_get(m)
      step += 1
      now = time.perf_counter()
      dt, last = now - last, now
      loss = float(m["loss"])
      if not (math.isfinite(loss) and math.isfinite(float(m["grad_norm"]))):
        ckpts.wait()
        good = ckpts.all_steps()
        raise NonFiniteLoss(
            f"non-finite training loss ({loss}) or gradient norm ({float(m['grad_norm'])}) at step {step}; "
            f"stopping without saving. Last good checkpoint: "
            + (f"{ckpts.directory}/{good[-1]}" if good else "none"))
      tokens_per_s = global_batch * seq_len / dt
      scalars = {"loss": loss, "learning_rate": float(m["learning_rate"]), "grad_norm": float(m["grad_norm"]),
                 "target_tokens": float(m["target_tokens"]), "step_time_s": dt, "tokens_per_s": tokens_per_s,
                 "mfu": metrics_lib.mfu(flops_per_token, tokens_per_s, peak, jax.device_count())}
      losses[step] = loss
      if eval_every and (step % eval_every == 0 or step == total):
        val = _validate(fns, state["params"], frozen, data, global_batch)
        val_losses[step] = scalars["val_loss"] = val
        if meta["best_val_loss"] is None or val < meta["best_val_loss"]:
          meta["best_val_loss"], meta["evals_since_best"] = val, 0
        else:
          meta["evals_since_best"] += 1
        last = time.perf_counter()  # validation time is not training step time
      writer.write(step, scalars)
      progress.update(step, scalars)
      patience = int(config.eval.early_stopping_patience)
      if patience and meta["evals_since_best"] >= patience:
        stop_reason = "early_stopping"
        progress.message(f"[train] early stopping at step {step}: validation loss has not improved on "
                         f"{meta['best_val_loss']:.4f} for {patience} evaluations")
      # One process: a SIGTERM flag. Several: JAX's sync point, so that every host stops at the same step.
      if preemption.reached(step):
        stop_reason = "preempted"
        progress.message(f"[train] SIGTERM: saving step {step} and stopping")
      if stop_reason != "done" or step == total:
        break
      if save_every and step % save_every == 0:
        save(step)
        last = time.perf_counter()  # nor is the (blocking part of the) checkpoint save
    if step > start or not ckpts.all_steps():
      save(step)
    ckpts.wait()
  finally:
    preemption.close()
    progress.close()
    writer.close()
    ckpts.close()
  _log(f"[train] stopped at step {step} ({stop_reason}); checkpoints in {ckpts.directory}")
  return Result(step, stop_reason, losses, val_losses, state["params"], frozen, dict(fns.traces))


def _validate(fns: step_lib.StepFunctions, trainable, frozen, data: data_source.Data, global_batch: int) -> float:
  """Token-weighted mean loss over the held-out batches (the same batches at every evaluation)."""
  loss_sum, tokens = 0.0, 0.0
  for host_batch in data.validation():
    s, n = fns.evaluate(trainable, frozen, step_lib.put_batch(host_batch, fns.batch_sharding, global_batch))
    loss_sum, tokens = loss_sum + float(s), tokens + float(n)
  if tokens == 0:
    raise ValueError("validation data has no target tokens (config.eval.batches, data.split)")
  return loss_sum / tokens


EXIT_NON_FINITE_LOSS, EXIT_PREEMPTED = 3, 143  # 143 = 128 + SIGTERM: the same command resumes the run


def main(argv: list[str]) -> int:
  config, rest = main_with_config(argv)
  parser = argparse.ArgumentParser(prog="python -m meta_rfft.train",
                                   usage="python -m meta_rfft.train --config=FILE[:arg] --workdir=DIR "
                                         "[--config.x=y ...]")
  parser.add_argument("--workdir", required=True, help="WORKDIR: checkpoints, metrics and hf/ go under it")
  workdir = parser.parse_args(rest).workdir
  try:
    result, code = cli.run_or_report(lambda: train(config, workdir, ["python", "-m", "meta_rfft.train", *argv]),
                                     "meta_rfft.train")
  except NonFiniteLoss as e:  # the last good checkpoint stays; the message names the step
    return cli.fail(str(e), EXIT_NON_FINITE_LOSS)
  if code:
    return code
  if result.stop_reason == "does_not_fit":
    return cli.EXIT_CHECK_FAILED
  return EXIT_PREEMPTED if result.stop_reason == "preempted" else cli.EXIT_OK
