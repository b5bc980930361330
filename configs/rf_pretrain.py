"""python -m meta_rfft.train --config=configs/rf_pretrain.py:tiny --workdir=/tmp/rf_pretrain_tiny

RF-pretraining (stage 1 of Meta-RFFT): one model trained on the 74 rule-following tasks (`rf_pretrain`
mixture, lengths 1-15), early-stopped on validation loss. Variants (the config argument):
  (none)  the paper's 7B recipe: full fine-tuning, 800 steps, batch 256, lr 1e-5, from a converted checkpoint:
          python -m meta_rfft.train --config=configs/rf_pretrain.py --workdir=runs/rf_7b \\
              --config.init.checkpoint=ckpt/qwen2.5-7b-instruct
  pissa   the paper's 32B recipe: PiSSA rank 32 on every projection, 700 steps:
          python -m meta_rfft.train --config=configs/rf_pretrain.py:pissa --workdir=runs/rf_32b \\
              --config.init.checkpoint=ckpt/qwen2.5-32b-instruct
  tiny    a ~2.3M-parameter model from scratch with the character vocabulary, on a small build of the same
          mixture (lengths 1-3): a CPU smoke run (the command on the first line).
"""
from meta_rfft.train.config import base_config, tiny_run

VARIANTS = ("", "pissa", "tiny")


def get_config(arg: str = ""):
  if arg not in VARIANTS:
    raise ValueError(f"configs/rf_pretrain.py: unknown variant {arg!r}; choose from {VARIANTS}")
  c = base_config()
  c.data.mixture = "rf_pretrain"
  c.data.format = "rf"
  c.data.vocab = ""  # the tokenizer of config.init.checkpoint
  c.data.seq_len = 4096  # RF traces of length-15 instances run to a few thousand tokens
  c.model.param_dtype = "float32"  # master weights
  c.model.dtype = "bfloat16"  # compute
  c.model.remat_policy = "full"
  c.train.steps = 800
  c.train.batch_size = 256
  c.train.micro_batches = 1
  c.optim.learning_rate = 1e-5
  c.optim.warmup_steps = 20
  c.optim.schedule = "warmup_cosine"
  c.eval.every = 50
  c.eval.batches = 8
  c.eval.early_stopping_patience = 3
  c.checkpoint.every = 50
  if arg == "pissa":
    c.adapter.method = "pissa"
    c.adapter.rank = 32
    c.train.steps = 700
  if arg == "tiny":
    tiny_run(c)
    c.optim.learning_rate = 3e-3
    c.optim.warmup_steps = 5
  return c
