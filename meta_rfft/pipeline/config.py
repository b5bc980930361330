"""The pipeline's config: what configs/demo.py and configs/lengthgen.py start from and change.

Keys:
  job: "experiment" (this config) or "models" (models_config: the models shipped in data/pretrained/).
  rerun_changed: a rerun in a DIR whose finished stages ran with other settings stops, naming the stage and the
    keys, unless this is true: then those stages and every stage that reads them run again (stage_runner.py).
  pretrained: where the arms start from.
    shipped  the models in data/pretrained/ (or pretrained_dir): vanilla RFFT adapts `base`, Meta-RFFT
             `rf_pretrained`, the control `rf_control`, each converted once for every seed; seeds vary the
             adaptation only. Their cards fix the format, pretraining tasks and lengths, which must agree here.
    train    build (or take hf_checkpoint as) the base model and RF-pretrain it in DIR, per seed, with the keys
             below (base, base_pretrain, pretrain, data.*_lengths).
  pretrained_dir: a folder of models as data/pretrained/ holds them; "" = data/pretrained/.
  hf_checkpoint: (pretrained=train) a real HF folder to start from; "" = build a small Qwen2 model locally (`base`).
  convert_dtype: stored dtype of the converted base; "" = the HF tensors' dtype.
  seeds: comma-separated seeds; each seed is one base-model init and one data order (shuffling and random
    position ids) for every stage of every arm. The task instances (the data build) are the same for all.
  heldout_tasks: comma-separated held-out tasks (split `heldout`); each is adapted to and evaluated on its own.
    A task of the user's own (e.g. data/examples/baggage_fees.py's `baggage_fees`) is named here or in
    pretrain_tasks once its module is in data.user_tasks.
  pretrain_tasks: comma-separated rf_pretrain tasks ("" = all 74); never a held-out task.
  arms: comma-separated, among
    meta     RF-pretrain on pretrain_tasks at data.pretrain_lengths, then adapt (Meta-RFFT);
    vanilla  adapt the base model itself (vanilla RFFT);
    control  RF-pretrain like `meta` but at data.control_lengths only, then adapt: separates "longer traces"
             from "more tasks".
    replay   adapt the RF-pretrained model like `meta`, with a fraction replay.fraction of the adaptation's
             examples drawn from the pretraining tasks at data.pretrain_lengths (a remedy for forgetting;
             reported beside Meta-RFFT, never in its place).
    Every arm adapts with the same steps and schedule (`adapt`).
  format: the trace format of every stage (`rf` is the paper's; meta_rfft/tasks/formats.py lists the others).
  base: the locally built model (hidden_size, num_layers, num_heads, num_kv_heads, intermediate_size,
    max_position_embeddings, rope_theta) and its BPE tokenizer (vocab_size; tokenizer_merges "free" lets merges
    cross spaces and newlines, "words" keeps them inside words as real tokenizers do; trained on
    tokenizer_per_length instances of every task at tokenizer_lengths).
  data: pretrain_lengths / control_lengths / adapt_lengths and examples per length of each
    (pretrain_per_length also serves the control), validation_per_length; positions and position_range (the
    position ids of every training stage: meta_rfft/data/positions.py; evaluation decodes the same way).
    user_tasks: task modules of the user's own, as meta_rfft/data/config.py's data.user_tasks; loaded when the
    config is checked and passed (as absolute paths) to every stage's data config and evaluation.
  base_pretrain: training of the built base model on the recall corpus (meta_rfft/data/recall.py: generic
    copying, no rules) before any arm starts from it, standing in for the LLM pretraining a real checkpoint
    has had; steps=0 = none. data.recall_max_length: its longest value.
  pretrain, adapt: steps, batch_size, seq_len (tokens per packed row), learning_rate, warmup_steps, schedule
    (warmup_cosine | constant), final_lr_fraction, adapter (none | lora | pissa), rank.
  eval: lengths, samples_per_length, batch_size, max_new_factor, max_new_extra, decoding (evaluate/config.py).
  targets: what the report checks (0 = off): meta_max_len_90 (Meta-RFFT's mean Max_Len_90%), gap_vanilla and
    gap_control (Meta-RFFT's lead over that arm, in the mean and on every seed), in_distribution (every arm).
  export: export the Meta-RFFT model of the first seed and task to HF and check it in transformers.
"""
from __future__ import annotations

import ml_collections

from meta_rfft.config.defaults import mesh_section, model_section, sharding_section
from meta_rfft.evaluate.config import decoding_section

ARMS = ("meta", "vanilla", "control", "replay")
ARM_LABELS = {"meta": "Meta-RFFT", "vanilla": "vanilla RFFT", "control": "short-pretraining control",
              "replay": "Meta-RFFT + replay"}
# Where the arms' starting models come from: the models shipped in data/pretrained/, or trained in DIR.
PRETRAINED = ("shipped", "train")


def stage(steps: int, batch_size: int, seq_len: int, learning_rate: float, warmup_steps: int,
          adapter: str = "none", rank: int = 8, schedule: str = "warmup_cosine",
          final_lr_fraction: float = 0.1) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      steps=steps, batch_size=batch_size, seq_len=seq_len, learning_rate=learning_rate,
      warmup_steps=warmup_steps, schedule=schedule, final_lr_fraction=final_lr_fraction, adapter=adapter,
      rank=rank))


def default_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.job = "experiment"
  c.rerun_changed = False
  c.pretrained = "shipped"
  c.pretrained_dir = ""
  c.hf_checkpoint = ""
  c.convert_dtype = ""
  c.seeds = "0"
  c.heldout_tasks = "nupa_length_integer"
  c.pretrain_tasks = ""
  c.arms = "meta,vanilla"
  c.format = "rf"
  c.base = ml_collections.ConfigDict(dict(
      vocab_size=1024, hidden_size=128, num_layers=4, num_heads=4, num_kv_heads=2, intermediate_size=384,
      max_position_embeddings=4096, rope_theta=10000.0, tokenizer_merges="free", tokenizer_lengths="1-8",
      tokenizer_per_length=10))
  c.data = ml_collections.ConfigDict(dict(
      pretrain_lengths="1-15", control_lengths="1-5", pretrain_per_length=100, adapt_lengths="1-5",
      adapt_per_length=200, validation_per_length=1, positions="contiguous", position_range=0,
      recall_max_length=30, user_tasks=""))
  c.base_pretrain = stage(steps=0, batch_size=16, seq_len=512, learning_rate=3e-3, warmup_steps=20)
  c.pretrain = stage(steps=300, batch_size=8, seq_len=1024, learning_rate=3e-3, warmup_steps=20)
  c.adapt = stage(steps=250, batch_size=8, seq_len=256, learning_rate=2e-3, warmup_steps=10)
  c.eval = ml_collections.ConfigDict(dict(lengths="1-30", samples_per_length=10, batch_size=32,
                                          max_new_factor=1.3, max_new_extra=16))
  c.eval.decoding = decoding_section()
  # What the report checks (0 = not checked): Meta-RFFT's mean Max_Len_90% over tasks and seeds, its lead over
  # vanilla RFFT and over the control (in the mean and on every seed), and every arm's in-distribution accuracy.
  c.replay = ml_collections.ConfigDict(dict(fraction=0.25))
  c.targets = ml_collections.ConfigDict(dict(meta_max_len_90=0.0, gap_vanilla=0.0, gap_control=0.0,
                                             in_distribution=0.9))
  c.export = True
  c.hf_check_prompts = 4
  c.hf_check_new_tokens = 256
  c.checkpoint_every = 100
  c.log_every = 25
  c.model = model_section()
  c.model.dtype = "float32"
  c.mesh = mesh_section()
  c.sharding = sharding_section()
  return c


# The models `job=models` trains and ships (data/pretrained/<name>/), and which RF-pretraining kind each one is
# ("base": no RF-pretraining).
MODELS = {"base": "base", "rf_pretrained": "long", "rf_control": "short"}


def models_config() -> ml_collections.ConfigDict:
  """The config of `job=models` (configs/pretrained_models.py): the base model and its two RF-pretrainings,
  trained once, evaluated on their own tasks and exported as the HF checkpoints the experiment adapts from.

  Keys beyond the experiment's (default_config) that it keeps:
    seed: the base model's initialisation and the data order of every stage.
    models: comma-separated, among MODELS: what this run trains, evaluates and exports (stages they share run
      once; two runs on one DIR may take different models).
    card_eval: the accuracy table of each card: lengths, samples_per_length, batch_size (test instances, greedy).
    ship_dtype: the stored dtype of the exported checkpoints.
    checkpoint_keep: trainer checkpoints kept per training stage.
  heldout_tasks ("" = all) only feed the tokenizer, so that every held-out task tokenizes as compactly as the
  pretraining tasks do.
  """
  c = default_config()
  c.job = "models"
  c.heldout_tasks = ""
  for key in ("arms", "adapt", "eval", "targets", "export", "hf_check_prompts", "hf_check_new_tokens", "seeds",
              "pretrained", "pretrained_dir", "replay"):
    del c[key]
  c.seed = 0  # the base model's initialisation and every stage's data order
  c.models = ",".join(MODELS)
  c.card_eval = ml_collections.ConfigDict(dict(lengths="1-20", samples_per_length=20, batch_size=32,
                                               max_new_factor=1.3, max_new_extra=16))
  c.ship_dtype = "bfloat16"
  c.checkpoint_keep = 1
  return c


# The shipped models' pretraining tasks: rf_pretrain tasks whose loops, list edits and counters are those of the
# held-out tasks configs/lengthgen.py adapts to (range and element loops, swaps and in-place edits shown as whole
# lists, appends, counters under if/elif/else, comparisons of strings); none needs arithmetic beyond small counters.
SHIPPED_PRETRAIN_TASKS = "lc_2460,lc_344,lc_2529,lc_485,lc_674,lc_2833,lc_2057"


def shipped_recipe(c: ml_collections.ConfigDict) -> None:
  """In place: how the models in data/pretrained/ were made (configs/pretrained_models.py), which
  configs/lengthgen.py repeats per seed under pretrained=train: a 0.9M-parameter base trained on the recall
  corpus, then RF-pretrained on SHIPPED_PRETRAIN_TASKS in `rf_index` traces at lengths 1-15 (control: 1-5)."""
  c.pretrain_tasks = SHIPPED_PRETRAIN_TASKS
  c.format = "rf_index"
  c.base.update(dict(tokenizer_lengths="1-10", tokenizer_per_length=10))
  c.data.update(dict(pretrain_lengths="1-15", control_lengths="1-5", pretrain_per_length=1000, recall_max_length=30))
  c.base_pretrain = stage(steps=800, batch_size=16, seq_len=512, learning_rate=3e-3, warmup_steps=20)
  # Rows of 1280 tokens hold the longest length-15 traces (lc_2460's, about 1.2k tokens) whole.
  c.pretrain = stage(steps=4000, batch_size=8, seq_len=1280, learning_rate=3e-3, warmup_steps=50)


def tiny(c: ml_collections.ConfigDict) -> None:
  """In place: a 2-layer model, a few examples per length and a few steps per stage, every target off: the
  end-to-end tests' smoke runs of configs/demo.py and configs/lengthgen.py."""
  c.base.update(dict(vocab_size=400, hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=1,
                     intermediate_size=64, tokenizer_lengths="1-3", tokenizer_per_length=3))
  c.pretrained = "train"  # the tests cover the training path; the shipped models have their own tests
  c.base_pretrain = stage(steps=0, batch_size=4, seq_len=128, learning_rate=3e-3, warmup_steps=1)
  c.data.update(dict(control_lengths="1-1", pretrain_per_length=8, adapt_lengths="1-2", adapt_per_length=8,
                     recall_max_length=6))
  c.pretrain = stage(steps=4, batch_size=8, seq_len=256, learning_rate=3e-3, warmup_steps=1)
  c.adapt = stage(steps=3, batch_size=8, seq_len=256, learning_rate=3e-3, warmup_steps=1)
  c.eval.update(dict(lengths="1-3", samples_per_length=2, batch_size=8))
  c.targets.update(dict(meta_max_len_90=0.0, gap_vanilla=0.0, gap_control=0.0, in_distribution=0.0))
  c.hf_check_prompts = 2
  c.hf_check_new_tokens = 16
  c.checkpoint_every = 0
  c.log_every = 1


def tiny_models(c: ml_collections.ConfigDict) -> None:
  """In place: configs/pretrained_models.py made a smoke run (the tests'): the tiny model, a few steps per stage,
  a small accuracy table."""
  c.base.update(dict(vocab_size=400, hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=1,
                     intermediate_size=64, tokenizer_lengths="1-3", tokenizer_per_length=3))
  c.heldout_tasks = "lc_283"
  c.data.update(dict(pretrain_lengths="1-3", control_lengths="1-2", pretrain_per_length=8, recall_max_length=6))
  c.base_pretrain = stage(steps=3, batch_size=4, seq_len=128, learning_rate=3e-3, warmup_steps=1)
  c.pretrain = stage(steps=3, batch_size=4, seq_len=256, learning_rate=3e-3, warmup_steps=1)
  c.card_eval.update(dict(lengths="1-3", samples_per_length=2, batch_size=8))
  c.checkpoint_every = 0
  c.checkpoint_keep = 1
  c.log_every = 1


def parse_list(text: str, key: str) -> list[str]:
  items = [t.strip() for t in str(text).split(",") if t.strip()]
  if len(set(items)) != len(items):
    raise ValueError(f"config.{key}={text!r} names an entry twice")
  return items


def seeds_of(cfg) -> list[int]:
  out = []
  for s in parse_list(cfg.seeds, "seeds"):
    try:
      out.append(int(s))
    except ValueError:
      raise ValueError(f"config.seeds={cfg.seeds!r}: {s!r} is not an integer") from None
  if not out:
    raise ValueError("config.seeds selects no seed")
  return out


def arms_of(cfg) -> list[str]:
  arms = parse_list(cfg.arms, "arms")
  unknown = [a for a in arms if a not in ARMS]
  if unknown or not arms:
    raise ValueError(f"config.arms={cfg.arms!r}: choose among {ARMS}" + (f" (unknown: {unknown})" if unknown else ""))
  return arms
