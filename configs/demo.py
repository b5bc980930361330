"""python -m meta_rfft.pipeline --config=configs/demo.py --workdir=runs/demo

The whole Meta-RFFT flow on a CPU in minutes (its time and results: README "Results"): one seed of
configs/lengthgen.py's experiment made smaller. The RF-pretrained model shipped in data/pretrained/rf_pretrained
(RF-pretrained once on seven list tasks at lengths 1-15: its card.md) and the base it started from
(data/pretrained/base) are both adapted to the held-out `lc_283` (Move Zeros) on lengths 1-5 = Meta-RFFT and
vanilla RFFT, evaluated on lengths 1-10, and the Meta-RFFT model is exported to HF and checked in transformers.
DIR/report.md holds the comparison. `--config.pretrained=train` RF-pretrains in DIR first (hours);
`--config.pretrained=train --config.hf_checkpoint=PATH` starts from a real HF checkpoint (then raise the steps,
sequence length and lengths to the paper's: configs/rf_pretrain.py, configs/adapt.py). Every key:
meta_rfft/pipeline/config.py. Argument `tiny`: a 2-layer model trained in DIR, a few steps per stage (the tests').
"""
from meta_rfft.pipeline.config import default_config, shipped_recipe, stage, tiny

VARIANTS = ("", "tiny")


def get_config(arg=""):
  if arg not in VARIANTS:
    raise ValueError(f"configs/demo.py: unknown variant {arg!r}; choose from {VARIANTS}")
  c = default_config()
  shipped_recipe(c)
  c.seeds = "0"
  c.heldout_tasks = "lc_283"
  c.arms = "meta,vanilla"
  c.data.update(dict(adapt_lengths="1-5", adapt_per_length=200))
  c.adapt = stage(steps=150, batch_size=8, seq_len=512, learning_rate=1e-3, warmup_steps=10)
  c.eval.update(dict(lengths="1-10", samples_per_length=10))
  c.targets.update(dict(gap_vanilla=3.0, in_distribution=0.9))
  if arg == "tiny":
    tiny(c)
    c.pretrain_tasks = "lc_2057,lc_485"
    c.data.pretrain_lengths = "1-2"
    c.adapt.update(dict(adapter="lora", rank=2))  # the LoRA path end to end, adapters folded in at export
  return c
