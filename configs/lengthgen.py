"""python -m meta_rfft.pipeline --config=configs/lengthgen.py --workdir=runs/lengthgen

Does RF-pretraining on longer traces of other tasks make a held-out task generalize past its adaptation
lengths, from scratch on a CPU? Three arms that differ only where the method says, on three held-out tasks over
lists and three seeds (each seed: base-model initialisation and data order), in the `rf_index` format (rf with
index hints: meta_rfft/tasks/index_hints.py):
  Meta-RFFT                  RF-pretrain on six rf_pretrain tasks over lists of numbers at lengths 1-15, then
                             adapt on lengths 1-5;
  vanilla RFFT               adapt the base model itself, same adaptation data, steps and schedule;
  short-pretraining control  RF-pretrain like Meta-RFFT but at lengths 1-5 only, then adapt.
Every model is evaluated on lengths 1-20 (10 instances per length); DIR/report.md has accuracy against length
with seed bands, Max_Len_90% (mean and spread), loop-count error by length, each arm's configuration and CPU
time. Every key: meta_rfft/pipeline/config.py. Variants (the config argument):
  (none)  the full experiment (about 3 hours on 2 CPU cores; --config.arms=meta,vanilla about 2: README
          "Reproducing the effect on a CPU");
  tiny    the same flow on a 2-layer model with a few steps per stage, two seeds and two tasks (the test's).
"""
from meta_rfft.pipeline.config import default_config, stage, tiny

VARIANTS = ("", "tiny")
# rf_pretrain tasks over lists of numbers (the BPE splits every digit, so copying numbers is one skill in every
# task): loops over lists, by element and by index, with counters, as the held-out tasks have.
PRETRAIN_TASKS = "lc_2057,lc_268,lc_2529,lc_2210,lc_485,lc_414"
HELDOUT_TASKS = "lc_283,lc_2677,lc_1598"


def get_config(arg=""):
  if arg not in VARIANTS:
    raise ValueError(f"configs/lengthgen.py: unknown variant {arg!r}; choose from {VARIANTS}")
  c = default_config()
  c.seeds = "0,1,2"
  c.heldout_tasks = HELDOUT_TASKS
  c.pretrain_tasks = PRETRAIN_TASKS
  c.arms = "meta,vanilla,control"
  c.format = "rf_index"
  c.base.update(dict(tokenizer_lengths="1-10", tokenizer_per_length=10))
  c.data.update(dict(pretrain_lengths="1-15", control_lengths="1-5", pretrain_per_length=100,
                     adapt_lengths="1-5", adapt_per_length=200))
  c.pretrain = stage(steps=500, batch_size=8, seq_len=1024, learning_rate=3e-3, warmup_steps=20)
  c.adapt = stage(steps=300, batch_size=8, seq_len=512, learning_rate=2e-3, warmup_steps=10)
  c.eval.update(dict(lengths="1-20", samples_per_length=10))
  c.targets.update(dict(meta_max_len_90=10.0, min_gap=4.0, in_distribution=0.9))
  if arg == "tiny":
    tiny(c)
    c.seeds = "0,1"
    c.heldout_tasks = "lc_283,nupa_get_digit_integer"
    c.pretrain_tasks = "lc_2057,lc_268"
    c.data.update(dict(pretrain_lengths="1-3", control_lengths="1-2"))
  return c
