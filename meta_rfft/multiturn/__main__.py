"""Entry point of `python -m meta_rfft.multiturn` (see meta_rfft/multiturn/cli.py)."""
from meta_rfft import cli
from meta_rfft.multiturn.cli import main

if __name__ == "__main__":
  cli.entry(main)
