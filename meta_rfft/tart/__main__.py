"""`python -m meta_rfft.tart train|evaluate --config=configs/tart.py[:variant] --workdir=DIR [--config.x=y ...]`."""
import sys

from meta_rfft import scratch
from meta_rfft.tart.cli import main

if __name__ == "__main__":
  scratch.use_private_tempdir()
  main(sys.argv[1:])
