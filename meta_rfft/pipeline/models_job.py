"""`job=models` (configs/pretrained_models.py): the base model and its RF-pretrainings, trained once, each evaluated
on its own tasks and exported as an HF checkpoint with its card (DIR/models/<name>/). The stages share the
pipeline's folder layout (layout.py) and its resumable stage runner, so a killed run resumes where it stopped
and two runs on one DIR (`models=rf_pretrained`, `models=rf_control`) share the tokenizer and base stages."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
from safetensors import safe_open

from meta_rfft import io_paths, layouts
from meta_rfft.convert import hf_to_orbax, orbax_to_hf
from meta_rfft.evaluate.length.run import evaluate
from meta_rfft.evaluate.samples import read_samples
from meta_rfft.pipeline import card as card_lib
from meta_rfft.pipeline import config as config_lib
from meta_rfft.pipeline import stages
from meta_rfft.pipeline.layout import Layout
from meta_rfft.pipeline.stage_runner import StageRunner


def check_config(cfg) -> tuple[list[str], list[str], list[str]]:
  """(models, pretraining tasks, tokenizer-only held-out tasks), or a ValueError naming the key at fault."""
  models = config_lib.parse_list(cfg.models, "models")
  unknown = [m for m in models if m not in config_lib.MODELS]
  if unknown or not models:
    raise ValueError(f"config.models={cfg.models!r}: choose among {tuple(config_lib.MODELS)}"
                     + (f" (unknown: {unknown})" if unknown else ""))
  if cfg.hf_checkpoint:
    raise ValueError("config.hf_checkpoint: job=models builds its base model; start the experiment (job=experiment) "
                     "from a real checkpoint instead")
  if int(cfg.base_pretrain.steps) <= 0:
    raise ValueError("config.base_pretrain.steps must be > 0: the shipped base is the recall-trained model")
  pretrain = stages.task_list(cfg.pretrain_tasks, "rf_pretrain", "pretrain_tasks")
  heldout = stages.task_list(cfg.heldout_tasks, "heldout", "heldout_tasks")
  stages.check_task_lengths(cfg, [("pretrain_lengths", pretrain), ("control_lengths", pretrain)])
  return models, pretrain, heldout


def as_settings(c) -> dict:
  """A ConfigDict as the JSON data a stage records."""
  return json.loads(c.to_json_best_effort())


def base_models(cfg, lay: Layout, runner: StageRunner, *, seed: int, tokenizer_tasks: list[str],
                build_tasks: list[str], pretrain_tasks: list[str], kinds: list[str], hf_dir: str = "") -> dict[str, str]:
  """Runs (or skips) the stages that make one seed's starting models: the tokenizer and the built base model
  (unless `hf_dir` is a real checkpoint to start from), its conversion, its recall training
  (config.base_pretrain.steps > 0) and the RF-pretrainings of `kinds` (among "long", "short"). Returns each
  model's stage name by kind ("base" included); Layout names their folders."""
  after = []
  if not hf_dir:
    b = cfg.base
    tok_keys = {k: b[k] for k in ("vocab_size", "tokenizer_merges", "tokenizer_lengths", "tokenizer_per_length")}
    tok = runner.run("tokenizer", lambda: stages.build_tokenizer(cfg, lay.tokenizer, tokenizer_tasks),
                     settings={**tok_keys, "format": cfg.format, "tasks": tokenizer_tasks}, clear=[lay.tokenizer])
    arch = {k: b[k] for k in ("hidden_size", "num_layers", "num_heads", "num_kv_heads", "intermediate_size",
                              "max_position_embeddings", "rope_theta")}
    hf_dir = runner.run(f"seed_{seed}/hf_base", lambda: stages.build_base(cfg, lay.hf_base(seed), tok, seed),
                        settings={**arch, "seed": seed}, after=["tokenizer"], clear=[lay.hf_base(seed)])["hf_dir"]
    after = [f"seed_{seed}/hf_base"]

  def convert():
    shutil.rmtree(lay.base_ckpt(seed), ignore_errors=True)  # a half-written conversion from an interrupted run
    return {"ckpt": hf_to_orbax(hf_dir, lay.base_ckpt(seed), dtype=cfg.convert_dtype or None)}
  runner.run(f"seed_{seed}/convert", convert, settings={"hf_dir": hf_dir, "dtype": cfg.convert_dtype}, after=after,
             clear=[lay.base_ckpt(seed)])
  base_stage = f"seed_{seed}/convert"
  lengths = {"long": cfg.data.pretrain_lengths, "short": cfg.data.control_lengths}

  def train(stage, init, init_stage, workdir, kind="long", source="pipeline"):
    c = stages.train_config(cfg, stage, init=init, mixture=",".join(pretrain_tasks), build_tasks=build_tasks,
                            pretrain_lengths=lengths[kind], data_dir=lay.data, seed=seed)
    c.checkpoint.keep = int(cfg.get("checkpoint_keep", 1))
    c.train.data_source = source
    name = f"seed_{seed}/{os.path.basename(workdir)}"
    runner.run(name, lambda: stages.run_training(c, workdir), settings=as_settings(c), after=[init_stage],
               clear=[workdir])
    return name
  if lay.base_recall:
    base_stage = train(cfg.base_pretrain, lay.base_ckpt(seed), base_stage, lay.recall(seed), source="recall")
  out = {"base": base_stage}
  for kind in kinds:
    out[kind] = train(cfg.pretrain, lay.base(seed), base_stage, lay.pretrain(seed, kind), kind)
  return out


# What each shipped model is, for its card.
SUMMARIES = {
    "base": "The stand-in for a generally pretrained LLM: a model built from random weights and trained on the recall "
            "corpus only (values to remember and recall, up to {recall} elements; no rule, no trace). Vanilla RFFT "
            "adapts it directly; both RF-pretrained models start from it.",
    "rf_pretrained": "`base`, RF-pretrained on {n} rf_pretrain tasks ({tasks}) at lengths {long}, `{fmt}` traces: "
                     "what Meta-RFFT adapts.",
    "rf_control": "`base`, RF-pretrained on the same {n} tasks ({tasks}) with the same steps and tokens at lengths "
                  "{short} only, `{fmt}` traces: what the short-pretraining control adapts.",
}


def card_eval_config(cfg, name: str, pretrain: list[str]):
  """The evaluation behind a card's accuracy table: the shipped files (converted back) on every pretraining task at
  config.card_eval's lengths, greedy; a test re-runs it on a few of the same instances."""
  lengths = {"base": "", "long": cfg.data.pretrain_lengths, "short": cfg.data.control_lengths}
  e = stages.eval_config(cfg, cfg.card_eval, label=name, tasks=",".join(pretrain),
                         train_lengths=lengths[config_lib.MODELS[name]])
  return e


def _command(argv: list[str] | None) -> str:
  """The card's command: the run's own flags after the program name, its --workdir shown as the docs name it."""
  flags = [a for a in (argv or []) if not a.startswith("--workdir")]
  return " ".join(["python -m meta_rfft.pipeline"] + flags + ["--workdir=runs/pretrained_models"])


def run(cfg, workdir: str, argv: list[str] | None = None) -> str:
  """Runs (or resumes) every stage of the models in config.models; returns DIR/models."""
  models, pretrain, heldout = check_config(cfg)
  lay = Layout(workdir, base_recall=True)
  os.makedirs(lay.root, exist_ok=True)
  runner = StageRunner(lay.stages, root=lay.root, rerun_changed=bool(cfg.rerun_changed))
  seed = int(cfg.seed)
  kinds = [config_lib.MODELS[m] for m in models if config_lib.MODELS[m] != "base"]
  trained = base_models(cfg, lay, runner, seed=seed, tokenizer_tasks=pretrain + heldout, build_tasks=pretrain,
                        pretrain_tasks=pretrain, kinds=kinds)
  lengths = {"base": "", "long": cfg.data.pretrain_lengths, "short": cfg.data.control_lengths}
  for name in models:
    kind = config_lib.MODELS[name]
    out, stage = lay.model(name), f"models/{name}"
    source = lay.base(seed) if kind == "base" else lay.pretrain(seed, kind)

    def export(source=source, out=out):
      shutil.rmtree(out, ignore_errors=True)  # a half-written export from an interrupted run
      return {"export_dir": orbax_to_hf(source, out, dtype=str(cfg.ship_dtype))}
    runner.run(f"{stage}/export", export, settings={"dtype": cfg.ship_dtype}, after=[trained[kind]], clear=[out])

    def convert_back(out=out, name=name):  # the card measures the shipped files, not the float32 checkpoint
      shutil.rmtree(lay.model_check_ckpt(name), ignore_errors=True)
      return {"ckpt": hf_to_orbax(out, lay.model_check_ckpt(name), dtype="float32")}
    runner.run(f"{stage}/convert", convert_back, after=[f"{stage}/export"], clear=[lay.model_check_ckpt(name)])
    e = card_eval_config(cfg, name, pretrain)
    e.checkpoint = lay.model_check_ckpt(name)
    runner.run(f"{stage}/eval", lambda e=e, name=name: evaluate(e, lay.model_check(name))["paths"],
               settings=as_settings(e), after=[f"{stage}/convert"],
               clear=[os.fspath(layouts.Workdir.at(lay.model_check(name)).eval.root)])
    command = _command(argv)
    runner.run(f"{stage}/card", lambda name=name, kind=kind, out=out, command=command: _write_card(
        cfg, lay, name, kind, out, pretrain, command, lengths[kind]),
        settings={"config": _card_settings(cfg), "command": command}, after=[f"{stage}/eval", trained["base"],
                                                                            trained[kind]])
  return lay.path("models")


def _card_settings(cfg) -> dict:
  """What a card depends on: the whole config but the keys that only pick which models and stages run."""
  return {k: v for k, v in as_settings(cfg).items() if k not in ("models", "rerun_changed")}


def _write_card(cfg, lay: Layout, name: str, kind: str, out: str, pretrain: list[str], command: str,
                trained_lengths: str) -> dict:
  evaluation = layouts.Workdir.at(lay.model_check(name)).eval
  summary = io_paths.read_json(evaluation.report_json)
  samples = read_samples(os.fspath(evaluation.samples), header=None)
  with open(os.path.join(out, "config.json"), encoding="utf-8") as f:
    arch = json.load(f)
  seed = int(cfg.seed)
  training = [card_lib.training_entry(
      "base (recall corpus)", f"recall corpus, values of 1-{cfg.data.recall_max_length} elements",
      cfg.base_pretrain, lay.recall(seed))]
  if kind != "base":
    lengths = trained_lengths
    training.append(card_lib.training_entry(
        f"RF-pretraining (lengths {lengths})", f"{len(pretrain)} rf_pretrain tasks at lengths {lengths}, "
        f"{cfg.data.pretrain_per_length} instances per length and task, `{cfg.format}`", cfg.pretrain,
        lay.pretrain(seed, kind)))
  text = SUMMARIES[name].format(recall=cfg.data.recall_max_length, n=len(pretrain), tasks=", ".join(pretrain),
                                long=cfg.data.pretrain_lengths, short=cfg.data.control_lengths, fmt=cfg.format)
  card = {
      "name": name, "summary": text, "command": command, "config": json.loads(cfg.to_json_best_effort()),
      "architecture": {**{k: arch.get(k) for k in ("model_type", "hidden_size", "num_hidden_layers",
                                                    "num_attention_heads", "num_key_value_heads",
                                                    "intermediate_size", "vocab_size", "max_position_embeddings",
                                                    "tie_word_embeddings")},
                       # transformers 5 writes rope_theta inside rope_parameters, 4.x at the top level
                       "rope_theta": arch.get("rope_theta") or (arch.get("rope_parameters") or {}).get("rope_theta"),
                       "parameters": _parameters(out)},
      "storage_dtype": str(cfg.ship_dtype),
      "tokenizer": {"vocab_size": arch.get("vocab_size"),
                    "sha256": card_lib.file_sha256(os.path.join(out, "tokenizer.json"))},
      "training": training,
      "accuracy": card_lib.accuracy_entry(summary, cfg.format, trained_lengths,
                                          int(cfg.card_eval.samples_per_length), samples),
  }
  card_lib.write(out, card)
  return {"card": os.path.join(out, card_lib.CARD_JSON), "mastery": card["accuracy"]["mastery"]}


def _parameters(model_dir: str) -> int:
  total = 0
  for f in sorted(os.listdir(model_dir)):
    if f.endswith(".safetensors"):
      with safe_open(os.path.join(model_dir, f), "np") as st:
        for key in st.keys():
          total += int(np.prod(st.get_slice(key).get_shape()))
  return total
