"""python -m meta_rfft.pipeline --config=configs/pretrained_models.py --workdir=runs/pretrained_models

Trains, once, the three models shipped in data/pretrained/ (data/pretrained/README.md), all of one architecture
and one tokenizer, and writes each as an HF checkpoint with its card (card.md, card.json, loss.png) into
DIR/models/<name>/:
  base           a 0.9M-parameter Qwen2 built locally (BPE tokenizer trained on the text of the pretraining tasks
                 and of every held-out task), trained on the recall corpus (meta_rfft/data/recall.py: values of up
                 to 30 elements to remember and recall; no rule, no trace): the stand-in for a generally pretrained
                 LLM;
  rf_pretrained  base, RF-pretrained on seven rf_pretrain tasks over lists at lengths 1-15 (`rf_index` traces);
  rf_control     base, RF-pretrained on the same tasks, steps and tokens at lengths 1-5 only.
configs/lengthgen.py and configs/demo.py adapt from them: Meta-RFFT = rf_pretrained, vanilla RFFT = base, the
short-pretraining control = rf_control. `--config.models=rf_control` (say) makes one of them; stages they share
run once. Every key: meta_rfft/pipeline/config.py (models_config, shipped_recipe). Variants (the argument):
  (none)  the shipped models (hours on 2 CPU cores: each card gives the hours of its stages);
  tiny    the same flow on a 2-layer model with a few steps per stage (the tests').
"""
from meta_rfft.pipeline.config import models_config, shipped_recipe, tiny_models

VARIANTS = ("", "tiny")


def get_config(arg=""):
  if arg not in VARIANTS:
    raise ValueError(f"configs/pretrained_models.py: unknown variant {arg!r}; choose from {VARIANTS}")
  c = models_config()
  shipped_recipe(c)
  c.checkpoint_every = 250
  c.checkpoint_keep = 16  # every checkpoint of the 4000-step pretraining: learning curves on the pretraining tasks
  if arg == "tiny":
    tiny_models(c)
    c.pretrain_tasks = "lc_2057,lc_485"
  return c
