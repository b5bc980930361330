"""`python -m meta_rfft.train --config=configs/FILE.py[:arg] --workdir=DIR [--config.x=y ...]`."""
import sys

from meta_rfft import scratch
from meta_rfft.train.trainer import main

if __name__ == "__main__":
  scratch.use_private_tempdir()
  main(sys.argv[1:])
