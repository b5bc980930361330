"""`python -m meta_rfft.tart train|evaluate --config=configs/tart.py[:variant] --workdir=DIR [--config.x=y ...]`."""
from meta_rfft import cli
from meta_rfft.tart.cli import main

if __name__ == "__main__":
  cli.entry(main)
