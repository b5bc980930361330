"""python -m meta_rfft.pipeline --config=configs/demo.py --workdir=runs/demo

The whole Meta-RFFT flow on a CPU in under 15 minutes: a small Qwen2-architecture model built locally (random
init, BPE tokenizer trained on the task text), converted in, RF-pretrained on six short-trace rf_pretrain
tasks, adapted to the held-out `nupa_length_integer` on lengths 1-5 (and, as the baseline, the base model
adapted the same way: vanilla RFFT), both evaluated on lengths 1-10, the Meta-RFFT model exported to HF and
checked in transformers. DIR/report.md holds the comparison. `--config.hf_checkpoint=PATH` starts from a real
HF checkpoint instead (then raise the steps, sequence length and lengths to the paper's: configs/rf_pretrain.py,
configs/adapt.py). Every key: meta_rfft/pipeline/config.py. Argument `tiny`: an even smaller, shorter run
(the end-to-end test's).
"""
from meta_rfft.pipeline.config import default_config, stage

VARIANTS = ("", "tiny")


def get_config(arg=""):
  if arg not in VARIANTS:
    raise ValueError(f"configs/demo.py: unknown variant {arg!r}; choose from {VARIANTS}")
  c = default_config()
  c.seeds = "0"
  c.heldout_tasks = "nupa_length_integer"
  c.pretrain_tasks = "sr_last_letter_concat,bbh_reverse_list,lc_434,lc_485,lc_344,lc_2057"
  c.arms = "meta,vanilla"
  c.base.update(dict(max_position_embeddings=2048, tokenizer_lengths="1-8", tokenizer_per_length=10))
  c.data.update(dict(pretrain_lengths="1-5", pretrain_per_length=100, adapt_lengths="1-5", adapt_per_length=200))
  c.pretrain = stage(steps=300, batch_size=8, seq_len=256, learning_rate=3e-3, warmup_steps=20)
  c.adapt = stage(steps=250, batch_size=8, seq_len=256, learning_rate=2e-3, warmup_steps=10)
  c.eval.update(dict(lengths="1-10", samples_per_length=10))
  c.targets.min_gap = 3.0
  if arg == "tiny":
    c.pretrain_tasks = "lc_344,lc_485"
    c.base.update(dict(vocab_size=400, hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=1,
                       intermediate_size=64, tokenizer_lengths="1-3", tokenizer_per_length=3))
    c.data.update(dict(pretrain_lengths="1-2", control_lengths="1-1", pretrain_per_length=8, adapt_lengths="1-2",
                       adapt_per_length=8))
    c.pretrain = stage(steps=4, batch_size=8, seq_len=256, learning_rate=3e-3, warmup_steps=1)
    c.adapt = stage(steps=3, batch_size=8, seq_len=256, learning_rate=3e-3, warmup_steps=1, adapter="lora", rank=2)
    c.eval.update(dict(lengths="1-3", samples_per_length=2, batch_size=8))
    c.targets.update(dict(min_gap=0.0, in_distribution=0.0))
    c.hf_check_prompts = 2
    c.hf_check_new_tokens = 16
    c.checkpoint_every = 0
    c.log_every = 1
  return c
