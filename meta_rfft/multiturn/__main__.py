"""Entry point of `python -m meta_rfft.multiturn` (see meta_rfft/multiturn/cli.py)."""
import sys

from meta_rfft import scratch
from meta_rfft.multiturn.cli import main

scratch.use_private_tempdir()
sys.exit(main())
