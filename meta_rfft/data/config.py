"""Default data settings, as an ml_collections ConfigDict that experiment configs embed as `config.data`.

Keys:
  mixture: what to train on: "rf_pretrain" (every RF-pretraining task), "heldout" (every held-out task),
    one task id (adaptation on that task), a comma-separated list of task ids, or a full seqio name
    ("meta_rfft.rf_pretrain.rf"). Combined with `format` into a seqio mixture name (see seqio_tasks.py).
  user_tasks: "" or a comma-separated list of task modules of the user's own (.py paths or importable module
    names, each defining `TASK = RuleTask(...)` or `TASKS = [...]`; data/examples/baggage_fees.py is one).
    They are loaded and validated before any task id is read (meta_rfft/tasks/user_tasks.py), then count as
    registered tasks everywhere: in `mixture`, in build.tasks ("" includes them) and in the split mixtures.
    An evaluation of the run loads them again from the run's config.
  format: the prompt format trained on: rf, rf_1shot, scratchpad or direct.
  split: the split the training iterator reads ("train"; "validation" for validation loss).
  data_dir: where the TFDS data is built and read; "" = $META_RFFT_DATA_DIR or ~/.cache/meta_rfft/tfds.
  vocab: "char" (byte-level character vocabulary for from-scratch models) or a path to a tokenizer.json.
  chat_template: how a prompt and its trace become tokens (meta_rfft/data/example_codec.py): "hf" renders each
    example as the model's own chat (the tokenizer files' template: optional system message, the prompt as the
    user turn, the trace as the assistant turn, loss on the assistant turn only); "none" feeds [BOS] + prompt,
    trace + [EOS]; "auto" (the default) is hf when the tokenizer files carry a template, else none.
  system_prompt: the system message of every rule-task example ("" = none; data.extra chats keep their own);
    needs a chat template. A trainer run records the resolved chat_template in WORKDIR/config.json and refuses
    to resume with other prompt settings.
  chat_date: the date (YYYY-MM-DD) a chat template that writes one (through strftime_now, as Llama-3.1's does)
    renders; "" = today. A trainer run records the date it rendered in WORKDIR/config.json, and a resume with ""
    keeps that date, so the prompts stay the same on a later day.
  seq_len: tokens per packed row.
  pack: pack several examples into one row (segment ids, restarting positions); else one example a row.
  pack_bins: rows kept open while packing (first fit); more bins fill rows better.
  shuffle_buffer: per-task shuffle buffer (examples). The TFDS files are already stored in a shuffled order;
    the buffer is kept small because every task's buffer is part of the iterator checkpoint and is filled
    before the task's first example (74 tasks x 32 examples by default; tests/benchmarks/data_throughput.py
    measures the start-up).
  positions: position ids of each packed example: "contiguous" (0..n-1, the paper's recipes) or "random" (a
    sorted random subset of [0, position_range), per example, keyed on the seed and the row; evaluation then
    draws its ids the same way: meta_rfft/data/positions.py).
  position_range: the ids "random" draws from; at least seq_len, at most the model's max_position_embeddings.
  seed: shuffling, mixture-sampling and random-position seed.
  recall_max_length: the longest value (digits, elements, characters) of the recall corpus, read only when
    config.train.data_source="recall" (meta_rfft/data/recall.py).
  mixing_rates: per-task overrides of the mixing rate, "task_id=rate,task_id=rate" (a dict works too);
    default rate = the number of examples of the task in the split read, at most mixing_cap.
  mixing_cap: examples-proportional mixing's cap (T5/FLAN): a task's default rate counts at most this many
    examples; 0 = no cap.
  extra: general data mixed into whatever data.mixture names: "a.jsonl,b.jsonl=RATE", JSON lines of
    {"messages": [...]} chats or {"prompt", "response"} pairs (meta_rfft/data/general_jsonl.py); each file is a
    seqio task meta_rfft.extra.<stem> weighing its train examples (capped by mixing_cap) unless =RATE is given.
  extra_validation: the fraction of each extra file held out as its validation split (drawn with data.build.seed).
  extra_turns: which assistant turns of an extra file's chats are trained on: "all" (each one after a user
    message, as its own example; the default) or "last".
  build: what the TFDS builder materialises (a change builds a new dataset beside the old one):
    seed: instance seed; tasks: "" (every registered task) or comma-separated ids;
    num_workers: processes rendering examples (0 = one per CPU core, at most 16; 1 = in this process);
      does not change the data;
    rf_pretrain_formats / heldout_formats: formats stored for each kind of task;
    splits.<split>.<kind>.lengths ("1-15") and .per_length (examples per length), kind = rf_pretrain or
    heldout. Defaults are the paper's: RF-pretraining 1-15 x 300, adaptation 1-5 x 1000, test 1-30 x 100.
  synthetic: the one-shot synthetic set, used only by the meta_rfft.rf_pretrain_with_synthetic.* mixtures:
    num_train, num_validation, lengths, seed (meta_rfft/data/snippet_tfds.py).
  synthetic_rate: its mixing rate in those mixtures; "" = its number of train examples.
"""
from __future__ import annotations

import ml_collections

ALL_FORMATS = "rf,rf_1shot,scratchpad,direct"
# The paper's one-shot synthetic set: 100k training samples (meta_rfft/data/snippet_tfds.py).
SYNTHETIC_DEFAULTS = {"num_train": 100_000, "num_validation": 1_000, "lengths": "1-15", "seed": 0}


def default_build_config() -> ml_collections.ConfigDict:
  split = lambda rf_lengths, rf_n, ho_lengths, ho_n: ml_collections.ConfigDict({  # noqa: E731
      "rf_pretrain": {"lengths": rf_lengths, "per_length": rf_n},
      "heldout": {"lengths": ho_lengths, "per_length": ho_n}})
  return ml_collections.ConfigDict({
      "seed": 0,
      "tasks": "",
      "num_workers": 0,
      "rf_pretrain_formats": "rf,rf_1shot",
      "heldout_formats": ALL_FORMATS,
      "splits": {
          "train": split("1-15", 300, "1-5", 1000),
          "validation": split("1-15", 10, "1-5", 20),
          # Test data of the RF-pretraining tasks is off by default (it would be several GB of long traces).
          "test": split("1-30", 0, "1-30", 100),
      },
  })


def default_data_config() -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({
      "mixture": "rf_pretrain",
      "user_tasks": "",
      "format": "rf",
      "split": "train",
      "data_dir": "",
      "vocab": "char",
      "chat_template": "auto",
      "system_prompt": "",
      "chat_date": "",
      "seq_len": 2048,
      "pack": True,
      "pack_bins": 8,
      "shuffle_buffer": 32,
      "positions": "contiguous",
      "position_range": 0,
      "recall_max_length": 30,
      "seed": 0,
      "mixing_rates": "",
      "mixing_cap": 0,
      "extra": "",
      "extra_validation": 0.02,
      "extra_turns": "all",
      "build": default_build_config(),
      # Multi-turn conversations instead of the mixture (meta_rfft/multiturn/train_data.py): "" = off,
      # "single_pass" or "n_pass"; conversations / validation_conversations are JSONL files.
      "multi_turn": "",
      "conversations": "",
      "validation_conversations": "",
      # The one-shot synthetic set (read only by the meta_rfft.rf_pretrain_with_synthetic.* mixtures).
      "synthetic": dict(SYNTHETIC_DEFAULTS),
      "synthetic_rate": "",
  })
