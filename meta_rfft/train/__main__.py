"""`python -m meta_rfft.train --config=configs/FILE.py[:arg] --workdir=DIR [--config.x=y ...]`."""
from meta_rfft import cli
from meta_rfft.train.trainer import main

if __name__ == "__main__":
  cli.entry(main)
