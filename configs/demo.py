"""python -m meta_rfft.pipeline --config=configs/demo.py --workdir=runs/demo

The whole Meta-RFFT flow on a CPU (its time and results: README "Results of the demo"), one seed of
configs/lengthgen.py's experiment made smaller: a small Qwen2-architecture model built locally (random init,
BPE tokenizer trained on the task text), converted in, RF-pretrained on six rf_pretrain tasks over lists of
numbers at lengths 1-15, adapted to the held-out `lc_283` on lengths 1-5 (and, as the baseline, the base model
adapted the same way: vanilla RFFT), both evaluated on lengths 1-10, the Meta-RFFT model exported to HF and
checked in transformers. Traces are in the `rf_index` format (rf with index hints; `--config.format=rf` for
the paper's). DIR/report.md holds the comparison. `--config.hf_checkpoint=PATH` starts from a real HF
checkpoint instead (then raise the steps, sequence length and lengths to the paper's: configs/rf_pretrain.py,
configs/adapt.py). Every key: meta_rfft/pipeline/config.py. Argument `tiny`: an even smaller, shorter run (the
end-to-end test's).
"""
from meta_rfft.pipeline.config import default_config, stage, tiny

VARIANTS = ("", "tiny")


def get_config(arg=""):
  if arg not in VARIANTS:
    raise ValueError(f"configs/demo.py: unknown variant {arg!r}; choose from {VARIANTS}")
  c = default_config()
  c.seeds = "0"
  c.heldout_tasks = "lc_283"
  c.pretrain_tasks = "lc_2057,lc_268,lc_2529,lc_2210,lc_485,lc_414"
  c.arms = "meta,vanilla"
  c.format = "rf_index"
  c.base.update(dict(tokenizer_lengths="1-10", tokenizer_per_length=10))
  c.data.update(dict(pretrain_lengths="1-15", pretrain_per_length=100, adapt_lengths="1-5", adapt_per_length=200))
  c.pretrain = stage(steps=200, batch_size=8, seq_len=1024, learning_rate=3e-3, warmup_steps=20)
  c.adapt = stage(steps=250, batch_size=8, seq_len=512, learning_rate=2e-3, warmup_steps=10)
  c.eval.update(dict(lengths="1-10", samples_per_length=10))
  c.targets.min_gap = 3.0
  if arg == "tiny":
    tiny(c)
    c.pretrain_tasks = "lc_2057,lc_485"
    c.data.pretrain_lengths = "1-2"
    c.adapt.update(dict(adapter="lora", rank=2))  # the LoRA path end to end, adapters folded in at export
  return c
