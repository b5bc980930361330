"""Entry point of `python -m meta_rfft.tasks` (see meta_rfft/tasks/cli.py)."""
from meta_rfft import cli
from meta_rfft.tasks.cli import main

if __name__ == "__main__":
  cli.entry(main)
