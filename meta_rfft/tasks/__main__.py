"""Entry point of `python -m meta_rfft.tasks` (see meta_rfft/tasks/cli.py)."""
import sys

from meta_rfft import scratch
from meta_rfft.tasks.cli import main

scratch.use_private_tempdir()
sys.exit(main())
