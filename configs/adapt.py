"""python -m meta_rfft.train --config=configs/adapt.py:tiny --workdir=/tmp/adapt_tiny

Adaptation (stage 2 of Meta-RFFT): the RF-pretrained model fine-tuned on one held-out task, lengths 1-5
(1,000 examples per length), with PiSSA rank 8, 156 steps of batch 32 (the paper's recipe; its learning rate
is not legible, 1e-4 is our choice). The argument is the task id (default nupa_add_integer), optionally
prefixed by `tiny,`:
  python -m meta_rfft.train --config=configs/adapt.py:lc_258 --workdir=runs/adapt_lc_258 \\
      --config.init.checkpoint=runs/rf_7b        # a trainer WORKDIR (adapters folded in) or converted ckpt
  tiny[,TASK]  a ~2.3M-parameter model from scratch (char vocabulary), PiSSA rank 4, on a small build of the
          task (lengths 1-3): a CPU smoke run (the command on the first line).
"""
from meta_rfft.train.config import base_config, tiny_run

DEFAULT_TASK = "nupa_add_integer"


def get_config(arg: str = ""):
  parts = [p for p in arg.split(",") if p]
  tiny = bool(parts) and parts[0] == "tiny"
  if tiny:
    parts = parts[1:]
  if len(parts) > 1:
    raise ValueError(f"configs/adapt.py: argument {arg!r} must be TASK or tiny[,TASK]")
  task = parts[0] if parts else DEFAULT_TASK
  from meta_rfft.tasks import registry  # pylint: disable=g-import-not-at-top
  registry.get_task(task)  # an unknown id fails here, naming the nearest ids
  c = base_config()
  c.data.mixture = task
  c.data.format = "rf"
  c.data.vocab = ""  # the tokenizer of config.init.checkpoint
  c.data.seq_len = 4096
  c.data.build.tasks = task
  c.model.dtype = "bfloat16"
  c.model.remat_policy = "full"
  c.adapter.method = "pissa"
  c.adapter.rank = 8
  c.train.steps = 156
  c.train.batch_size = 32
  c.optim.learning_rate = 1e-4
  c.optim.warmup_steps = 8
  c.eval.every = 26
  c.eval.batches = 4
  c.eval.early_stopping_patience = 0
  c.checkpoint.every = 26
  if tiny:
    tiny_run(c)
    c.adapter.rank = 4
    c.data.build.splits.train.heldout.per_length = 40
    c.data.build.splits.validation.heldout.per_length = 4
    c.optim.learning_rate = 3e-3
    c.optim.warmup_steps = 3
  return c
