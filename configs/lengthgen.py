"""python -m meta_rfft.pipeline --config=configs/lengthgen.py --workdir=runs/lengthgen

Does RF-pretraining on longer traces of other tasks make a held-out task generalize past its adaptation lengths?
The paper's Table 2 in miniature, on a CPU: every arm adapts one of the models shipped in data/pretrained/ (their
cards say how they were trained: configs/pretrained_models.py) to a held-out task on lengths 1-5, with the same
data, steps and schedule, and is evaluated on lengths 1-20:
  Meta-RFFT                  adapt `rf_pretrained` (RF-pretrained on seven rf_pretrain tasks at lengths 1-15);
  vanilla RFFT               adapt `base` (the recall-trained model both RF-pretrainings start from);
  short-pretraining control  adapt `rf_control` (the same tasks, steps and tokens at lengths 1-5 only);
  Meta-RFFT + replay         adapt `rf_pretrained` with a quarter of the adaptation's examples replayed from its
                             pretraining tasks at lengths 1-15 (reported beside Meta-RFFT, never in its place).
Three held-out tasks of the paper's twelve, three adaptation seeds (data order and adapter init), `rf_index` traces
(rf with index hints: meta_rfft/tasks/index_hints.py). DIR/report.md has accuracy against length with seed bands,
Max_Len_90% (mean and spread), loop-count error by length, each arm's configuration and CPU time, and the targets.
`--config.pretrained=train` RF-pretrains per seed in DIR instead (the shipped models' recipe; hours per seed).
Every key: meta_rfft/pipeline/config.py. Variants (the config argument):
  (none)  the full experiment (docs/studies/lengthgen.md gives its time);
  tiny    the same flow on a 2-layer model trained in DIR (pretrained=train), a few steps per stage, two seeds
          and two tasks (the tests').
"""
from meta_rfft.pipeline.config import default_config, shipped_recipe, stage, tiny

VARIANTS = ("", "tiny")
HELDOUT_TASKS = "lc_283,lc_2677,lc_1598"


def get_config(arg=""):
  if arg not in VARIANTS:
    raise ValueError(f"configs/lengthgen.py: unknown variant {arg!r}; choose from {VARIANTS}")
  c = default_config()
  shipped_recipe(c)
  c.seeds = "0,1,2"
  c.heldout_tasks = HELDOUT_TASKS
  c.arms = "meta,vanilla,control,replay"
  c.data.update(dict(adapt_lengths="1-5", adapt_per_length=200))
  c.adapt = stage(steps=300, batch_size=8, seq_len=512, learning_rate=1e-3, warmup_steps=10)
  c.eval.update(dict(lengths="1-20", samples_per_length=20))
  c.targets.update(dict(meta_max_len_90=10.0, gap_vanilla=4.0, gap_control=2.0, in_distribution=0.9))
  if arg == "tiny":
    tiny(c)
    c.seeds = "0,1"
    c.arms = "meta,vanilla,control"
    c.heldout_tasks = "lc_283,nupa_get_digit_integer"
    c.pretrain_tasks = "lc_2057,lc_268"
    c.data.update(dict(pretrain_lengths="1-3", control_lengths="1-2"))
  return c
