"""Prints the resolved config: `python -m meta_rfft.config --config=FILE[:arg] [--config.a.b=value ...]`."""
import sys

from meta_rfft.config.loader import main_with_config


def main(argv):
  config, rest = main_with_config(argv)
  if rest:
    print(f"error: unexpected arguments {rest}", file=sys.stderr)
    sys.exit(2)
  print(config.to_json_best_effort(indent=2, sort_keys=True))


if __name__ == "__main__":
  main(sys.argv[1:])
