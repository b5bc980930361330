"""Prints the resolved config: `python -m meta_rfft.config --config=FILE[:arg] [--config.a.b=value ...]`."""
from meta_rfft import cli
from meta_rfft.config.loader import main_with_config


def main(argv) -> int:
  config, rest = main_with_config(argv)
  if rest:
    return cli.fail(f"unexpected arguments {rest}")
  print(config.to_json_best_effort(indent=2, sort_keys=True))
  return cli.EXIT_OK


if __name__ == "__main__":
  cli.entry(main)
