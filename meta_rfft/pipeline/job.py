"""The whole Meta-RFFT flow for every seed, held-out task and arm of the config (meta_rfft/pipeline/config.py),
then one report; layout.py says what lands where. A rerun skips the stages already finished (stages.py)."""
from __future__ import annotations

import json
import os
import shutil

from meta_rfft import io_paths, layouts
from meta_rfft.convert import orbax_to_hf
from meta_rfft.convert.sources import resolve
from meta_rfft.data import positions
from meta_rfft.evaluate.examples import lengths_of
from meta_rfft.evaluate.length.run import evaluate
from meta_rfft.evaluate.run_settings import eval_positions, eval_vocabulary
from meta_rfft.evaluate.samples import read_samples
from meta_rfft.pipeline import config as config_lib
from meta_rfft.pipeline import models_job, report, shipped_models, stages
from meta_rfft.pipeline.hf_check import check_export
from meta_rfft.pipeline.layout import ARM_INIT, Layout
from meta_rfft.pipeline.stage_runner import StageRunner
from meta_rfft.sharding.mesh import mesh_from_config
from meta_rfft.sharding.rules import normalize_rules
from meta_rfft.tasks.formats import format_names
from meta_rfft.tasks.user_tasks import load_user_tasks


def _eval_config(cfg, label: str, task: str):
  return stages.eval_config(cfg, cfg.eval, label=label, tasks=task, train_lengths=cfg.data.adapt_lengths)


def check_config(cfg) -> tuple[list[int], list[str], list[str], list[str]]:
  seeds, arms = config_lib.seeds_of(cfg), config_lib.arms_of(cfg)
  load_user_tasks(cfg.data.get("user_tasks", ""))  # before any task id is read
  heldout = stages.task_list(cfg.heldout_tasks, "heldout", "heldout_tasks")
  if not str(cfg.heldout_tasks).strip():
    raise ValueError("config.heldout_tasks must name at least one held-out task")
  if cfg.format not in format_names():
    raise ValueError(f"config.format={cfg.format!r} unknown; known formats: {', '.join(format_names())}")
  positions.check(cfg.data.positions, int(cfg.data.position_range))
  if cfg.pretrained not in config_lib.PRETRAINED:
    raise ValueError(f"config.pretrained={cfg.pretrained!r}: choose from {config_lib.PRETRAINED}")
  if cfg.pretrained == "shipped":
    pretrain = shipped_models.check(cfg, arms)
  else:
    pretrain = stages.task_list(cfg.pretrain_tasks, "rf_pretrain", "pretrain_tasks")
    needed = [("pretrain_lengths", pretrain)] + ([("control_lengths", pretrain)] if "control" in arms else [])
    stages.check_task_lengths(cfg, needed)
  stages.check_task_lengths(cfg, [("adapt_lengths", heldout)])
  return seeds, arms, pretrain, heldout


def run(cfg, workdir: str) -> str:
  """Runs (or resumes) every stage; returns the path of DIR/report.md."""
  seeds, arms, pretrain, heldout = check_config(cfg)
  shipped = cfg.pretrained == "shipped"
  lay = Layout(workdir, base_recall=not shipped and int(cfg.base_pretrain.steps) > 0, shipped=shipped)
  os.makedirs(lay.root, exist_ok=True)
  runner = StageRunner(lay.stages, root=lay.root, rerun_changed=bool(cfg.rerun_changed))
  replay = "replay" in arms
  build_tasks = heldout + (pretrain if replay or not shipped else [])
  # The built tokenizer also covers every registered held-out task, as the shipped models' does.
  tokenizer_tasks = pretrain + heldout + [t for t in stages.task_list("", "heldout", "heldout_tasks") if t not in heldout]
  kinds = sorted({ARM_INIT[a] for a in arms} - {"base"})

  # ---- the starting models: the shipped ones, or trained here per seed (from a real or a built base) ---------
  if shipped:
    base_desc, starts = shipped_models.convert_all(cfg, lay, runner, arms)
  elif cfg.hf_checkpoint:
    hf_dir = os.path.abspath(cfg.hf_checkpoint)
    if not os.path.isfile(os.path.join(hf_dir, "config.json")):
      raise ValueError(f"config.hf_checkpoint={cfg.hf_checkpoint!r}: no config.json there")
    base_desc = f"`{hf_dir}`"
  else:
    b = cfg.base
    base_desc = (f"a random-initialised Qwen2 (hidden {b.hidden_size}, {b.num_layers} layers, {b.num_heads} heads / "
                 f"{b.num_kv_heads} KV heads, RoPE theta {b.rope_theta:g}, BPE vocabulary of {b.vocab_size} "
                 f"trained locally on the task text, merges `{b.tokenizer_merges}`) built with transformers, one "
                 "initialisation per seed")
  lengths = {"long": cfg.data.pretrain_lengths, "short": cfg.data.control_lengths}
  for s in seeds:
    if not shipped:
      starts = models_job.base_models(cfg, lay, runner, seed=s, tokenizer_tasks=tokenizer_tasks,
                                      build_tasks=build_tasks, pretrain_tasks=pretrain, kinds=kinds,
                                      hf_dir=os.path.abspath(cfg.hf_checkpoint) if cfg.hf_checkpoint else "")

    # ---- per seed: every arm adapted to every held-out task, then evaluated ----------------------------------
    for task in heldout:
      for arm in arms:
        out = lay.arm(s, task, arm)
        c = stages.train_config(cfg, cfg.adapt, init=lay.init_of(s, arm), mixture=task, build_tasks=build_tasks,
                                pretrain_lengths=lengths["long"], data_dir=lay.data, seed=s)
        if arm == "replay":
          stages.mix_in_replay(c, task, pretrain, float(cfg.replay.fraction))
        name = f"seed_{s}/{task}/{arm}"
        runner.run(name, lambda c=c, out=out: stages.run_training(c, out), settings=models_job.as_settings(c),
                   after=[starts[ARM_INIT[arm]]], clear=[out])
        e = _eval_config(cfg, config_lib.ARM_LABELS[arm], task)
        runner.run(f"{name}/eval", lambda e=e, out=out: evaluate(e, out)["paths"], settings=models_job.as_settings(e),
                   after=[name], clear=[os.fspath(layouts.Workdir.at(out).eval.root)])

  # ---- HF export of one Meta-RFFT model, checked in transformers -----------------------------------------------
  check = None
  if cfg.export and "meta" in arms:
    check = _export_and_check(cfg, runner, lay, seeds[0], heldout[0])

  # ---- the report --------------------------------------------------------------------------------------------
  facts = {"heldout": heldout, "pretrain": pretrain, "base": base_desc, "seeds": seeds, "arms": arms,
           "pretrained": str(cfg.pretrained)}
  result = report.write(lay, cfg, facts, hf_check=check, stage_records=runner.records())
  print(result["table"])
  return result["md"]


def _export_and_check(cfg, runner: StageRunner, lay: Layout, seed: int, task: str) -> dict:
  source = lay.arm(seed, task, "meta")

  def export():
    shutil.rmtree(lay.export, ignore_errors=True)  # a half-written export from an interrupted run
    return {"export_dir": orbax_to_hf(source, lay.export, dtype="float32")}
  stage = f"seed_{seed}/{task}/meta"
  runner.run("export_hf", export, settings={"source": source, "dtype": "float32"}, after=[stage], clear=[lay.export])

  def hf_check():
    rows = read_samples(lay.eval_samples(seed, task, "meta"), header=None)
    # Prompts spread over the adaptation lengths: long, meaningful outputs rather than the first few shortest.
    in_dist = [r for r in rows if r["length"] in lengths_of(cfg.data.adapt_lengths)] or rows
    n = min(int(cfg.hf_check_prompts), len(in_dist))
    prompts = [in_dist[round(i * (len(in_dist) - 1) / max(n - 1, 1))]["prompt"] for i in range(n)]
    resolved = resolve(source)
    vocab = eval_vocabulary("", source, resolved.hf_dir)
    mode, position_range = eval_positions("", 0, source)
    result = check_export(lay.export, resolved, prompts, int(cfg.hf_check_new_tokens), mesh_from_config(cfg.mesh),
                          normalize_rules(dict(cfg.sharding.rules)), vocab, positions=mode,
                          position_range=position_range)
    io_paths.write_text(lay.hf_check, json.dumps(result, indent=2))
    if not result["passed"]:
      raise RuntimeError(f"HF export check failed: {result}")
    return result
  return runner.run("hf_check", hf_check, settings={"prompts": int(cfg.hf_check_prompts),
                                                    "new_tokens": int(cfg.hf_check_new_tokens)},
                    after=["export_hf", f"{stage}/eval"])
