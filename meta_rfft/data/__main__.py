"""Builds the TFDS data of a config ahead of training: `python -m meta_rfft.data --config=FILE[:arg] ...`.

The config's `data` section (meta_rfft.data.config) decides what is built, `data.extra` files included; without
--config, configs/data.py (the paper's sizes). Prints the build directory and the example counts per split.
"""
import logging
import sys

from meta_rfft import shipped
from meta_rfft.config.loader import main_with_config
from meta_rfft.data import general_jsonl, general_tfds, tfds_data


def main(argv) -> int:
  config, rest = main_with_config(argv, default=str(shipped.CONFIGS_DIR / "data.py"))
  if rest:
    print(f"error: unexpected arguments {rest}", file=sys.stderr)
    return 2
  if "data" not in config or "build" not in config.data:
    print("error: the config has no data.build section (see meta_rfft/data/config.py)", file=sys.stderr)
    return 2
  logging.basicConfig(level=logging.INFO, format="%(message)s")
  try:
    settings, path = tfds_data.ensure_built(config.data)
    extra = [general_tfds.ensure_built(e, config.data)
             for e in general_jsonl.parse_entries(config.data.get("extra", ""))]
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  totals = {}
  for part in settings.parts:
    totals[part.split] = totals.get(part.split, 0) + part.num_examples
  print(f"{path}\n" + "\n".join(f"{split}: {n} examples" for split, n in totals.items()))
  for built in extra:  # data.extra files, each its own dataset
    counts = ", ".join(f"{split} {n}" for split, n in built.counts.items())
    print(f"{built.path} ({built.settings.entry.path}): {counts} examples")
  return 0


if __name__ == "__main__":
  from meta_rfft import scratch  # pylint: disable=g-import-not-at-top
  scratch.use_private_tempdir()
  sys.exit(main(sys.argv[1:]))
