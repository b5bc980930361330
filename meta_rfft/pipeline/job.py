"""The whole Meta-RFFT flow for every seed, held-out task and arm of the config (meta_rfft/pipeline/config.py),
then one report; layout.py says what lands where. A rerun skips the stages already finished (stages.py)."""
from __future__ import annotations

import json
import os
import shutil

from meta_rfft import io_paths
from meta_rfft.pipeline import config as config_lib
from meta_rfft.pipeline import stages
from meta_rfft.pipeline.layout import Layout


def _eval_config(cfg, label: str, task: str):
  from meta_rfft.evaluate.config import default_eval_config
  e = default_eval_config()
  e.label = label
  e.tasks = task
  e.user_tasks = stages.user_tasks_of(cfg)
  e.formats = cfg.format
  e.lengths = cfg.eval.lengths
  e.samples_per_length = int(cfg.eval.samples_per_length)
  e.train_lengths = cfg.data.adapt_lengths
  e.seed = 0  # the test instances of the data build: the same for every seed and arm
  e.batch_size = int(cfg.eval.batch_size)
  e.max_new_factor = float(cfg.eval.max_new_factor)
  e.max_new_extra = int(cfg.eval.max_new_extra)
  e.decoding = cfg.eval.decoding
  e.model.dtype = cfg.model.dtype  # not scan_layers: decoding picks its own (evaluate.config.decode_scan_layers)
  e.mesh = cfg.mesh
  e.sharding = cfg.sharding
  return e


def check_config(cfg) -> tuple[list[int], list[str], list[str], list[str]]:
  seeds, arms = config_lib.seeds_of(cfg), config_lib.arms_of(cfg)
  from meta_rfft.tasks.user_tasks import load_user_tasks
  load_user_tasks(cfg.data.get("user_tasks", ""))  # before any task id is read
  pretrain = stages.task_list(cfg.pretrain_tasks, "rf_pretrain", "pretrain_tasks")
  heldout = stages.task_list(cfg.heldout_tasks, "heldout", "heldout_tasks")
  if not str(cfg.heldout_tasks).strip():
    raise ValueError("config.heldout_tasks must name at least one held-out task")
  from meta_rfft.tasks.formats import format_names
  if cfg.format not in format_names():
    raise ValueError(f"config.format={cfg.format!r} unknown; known formats: {', '.join(format_names())}")
  from meta_rfft.data import positions
  positions.check(cfg.data.positions, int(cfg.data.position_range))
  from meta_rfft.evaluate.examples import lengths_of
  from meta_rfft.tasks import registry
  needed = [("pretrain_lengths", pretrain)] + ([("control_lengths", pretrain)] if "control" in arms else [])
  for key, tasks in needed + [("adapt_lengths", heldout)]:
    lengths = lengths_of(cfg.data[key])
    for t in map(registry.get_task, tasks):
      if not any(n >= t.min_length and (t.max_length is None or n <= t.max_length) for n in lengths):
        raise ValueError(f"config.data.{key}={cfg.data[key]!r}: task {t.id!r} has no instance at these lengths "
                         f"(its lengths start at {t.min_length})")
  return seeds, arms, pretrain, heldout


def run(cfg, workdir: str) -> str:
  """Runs (or resumes) every stage; returns the path of DIR/report.md."""
  from meta_rfft.evaluate.runner import evaluate
  seeds, arms, pretrain, heldout = check_config(cfg)
  lay = Layout(workdir, base_recall=int(cfg.base_pretrain.steps) > 0)
  os.makedirs(lay.root, exist_ok=True)
  runner = stages.StageRunner(lay.stages)
  build_tasks = pretrain + heldout

  # ---- the base model of every seed: a real HF checkpoint, or one built locally ---------------------------
  if cfg.hf_checkpoint:
    hf_dir = os.path.abspath(cfg.hf_checkpoint)
    if not os.path.isfile(os.path.join(hf_dir, "config.json")):
      raise ValueError(f"config.hf_checkpoint={cfg.hf_checkpoint!r}: no config.json there")
    base_desc = f"`{hf_dir}`"
    hf_dirs = {s: hf_dir for s in seeds}
  else:
    tok = runner.run("tokenizer", lambda: stages.build_tokenizer(cfg, lay.tokenizer, build_tasks))
    hf_dirs = {}
    for s in seeds:
      hf_dirs[s] = runner.run(f"seed_{s}/hf_base",
                              lambda s=s: stages.build_base(cfg, lay.hf_base(s), tok, s))["hf_dir"]
    b = cfg.base
    base_desc = (f"a random-initialised Qwen2 (hidden {b.hidden_size}, {b.num_layers} layers, {b.num_heads} heads / "
                 f"{b.num_kv_heads} KV heads, RoPE theta {b.rope_theta:g}, BPE vocabulary of {tok['vocab_size']} "
                 f"trained locally on the task text, merges `{b.tokenizer_merges}`) built with transformers, one "
                 "initialisation per seed")

  def convert(s):
    from meta_rfft.convert import hf_to_orbax
    shutil.rmtree(lay.base_ckpt(s), ignore_errors=True)  # a half-written conversion from an interrupted run
    return {"ckpt": hf_to_orbax(hf_dirs[s], lay.base_ckpt(s), dtype=cfg.convert_dtype or None)}

  # ---- per seed: RF-pretraining (long, short), then every arm adapted to every held-out task ---------------
  lengths = {"long": cfg.data.pretrain_lengths, "short": cfg.data.control_lengths}
  kinds = [k for k, arm in (("long", "meta"), ("short", "control")) if arm in arms]
  for s in seeds:
    runner.run(f"seed_{s}/convert", lambda s=s: convert(s))

    def train(stage, init, mixture, out, kind="long", s=s):
      c = stages.train_config(cfg, stage, init=init, mixture=mixture, build_tasks=build_tasks,
                              pretrain_lengths=lengths[kind], data_dir=lay.data, seed=s)
      return lambda: stages.run_training(c, out)
    if lay.base_recall:
      c = stages.train_config(cfg, cfg.base_pretrain, init=lay.base_ckpt(s), mixture=",".join(pretrain),
                              build_tasks=build_tasks, pretrain_lengths=lengths["long"], data_dir=lay.data, seed=s)
      c.train.data_source = "recall"
      runner.run(f"seed_{s}/base_recall", lambda c=c, s=s: stages.run_training(c, lay.recall(s)))
    for kind in kinds:
      name = os.path.basename(lay.pretrain(s, kind))
      runner.run(f"seed_{s}/{name}", train(cfg.pretrain, lay.base(s), ",".join(pretrain),
                                           lay.pretrain(s, kind), kind))
    for task in heldout:
      for arm in arms:
        out = lay.arm(s, task, arm)
        runner.run(f"seed_{s}/{task}/{arm}", train(cfg.adapt, lay.init_of(s, arm), task, out))
        label = config_lib.ARM_LABELS[arm]
        runner.run(f"seed_{s}/{task}/{arm}/eval",
                   lambda out=out, label=label, task=task: evaluate(_eval_config(cfg, label, task), out)["paths"])

  # ---- HF export of one Meta-RFFT model, checked in transformers -----------------------------------------------
  check = None
  if cfg.export and "meta" in arms:
    check = _export_and_check(cfg, runner, lay, seeds[0], heldout[0])

  # ---- the report --------------------------------------------------------------------------------------------
  from meta_rfft.pipeline import report
  facts = {"heldout": heldout, "pretrain": pretrain, "base": base_desc, "seeds": seeds, "arms": arms}
  result = report.write(lay, cfg, facts, hf_check=check, stage_records=runner.records())
  print(result["table"])
  return result["md"]


def _export_and_check(cfg, runner: stages.StageRunner, lay: Layout, seed: int, task: str) -> dict:
  source = lay.arm(seed, task, "meta")

  def export():
    from meta_rfft.convert import orbax_to_hf
    shutil.rmtree(lay.export, ignore_errors=True)  # a half-written export from an interrupted run
    return {"export_dir": orbax_to_hf(source, lay.export, dtype="float32")}
  runner.run("export_hf", export)

  def hf_check():
    from meta_rfft.convert.sources import resolve
    from meta_rfft.evaluate.examples import lengths_of
    from meta_rfft.evaluate.runner import eval_positions, eval_vocabulary, read_samples
    from meta_rfft.pipeline.hf_check import check_export
    from meta_rfft.sharding.mesh import mesh_from_config
    from meta_rfft.sharding.rules import normalize_rules
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
  return runner.run("hf_check", hf_check)
