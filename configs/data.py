"""python -m meta_rfft.data --config=configs/data.py[:small] [--config.data.data_dir=DIR ...]

Builds the Meta-RFFT TFDS data (every task, split and format, at the paper's sizes: RF-pretraining lengths
1-15 x 300, adaptation lengths 1-5 x 1000, test lengths 1-30 x 100) once into data_dir. Training configs embed
the same section as `config.data` (meta_rfft.data.config.default_data_config, documented there), and the
trainer builds on first use; this entry point builds ahead of time. Argument `small`: 20 examples per length
everywhere, a fraction of the full build (docs/performance.md "Data pipeline throughput" gives the build rate).
"""
import ml_collections

from meta_rfft.data.config import default_data_config

VARIANTS = ("", "small")


def get_config(arg=""):
  if arg not in VARIANTS:
    raise ValueError(f"configs/data.py: unknown variant {arg!r}; choose from {VARIANTS}")
  c = ml_collections.ConfigDict()
  c.data = default_data_config()
  if arg == "small":
    for split in ("train", "validation", "test"):
      for kind in ("rf_pretrain", "heldout"):
        c.data.build.splits[split][kind].per_length = min(20, c.data.build.splits[split][kind].per_length)
  return c
