"""Entry point of `python -m meta_rfft.tasks` (see meta_rfft/tasks/cli.py)."""
import sys

from meta_rfft.tasks.cli import main

sys.exit(main())
