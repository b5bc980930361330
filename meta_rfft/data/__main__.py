"""Builds the TFDS data of a config ahead of training: `python -m meta_rfft.data --config=FILE[:arg] ...`.

The config's `data` section (meta_rfft.data.config) decides what is built, `data.extra` files included; without
--config, configs/data.py (the paper's sizes). Prints the build directory and the example counts per split.
"""
import logging

from meta_rfft import cli, shipped
from meta_rfft.config.loader import main_with_config
from meta_rfft.data import general_jsonl, general_tfds, tfds_data


def main(argv) -> int:
  config, rest = main_with_config(argv, default=str(shipped.CONFIGS_DIR / "data.py"))
  if rest:
    return cli.fail(f"unexpected arguments {rest}")
  if "data" not in config or "build" not in config.data:
    return cli.fail("the config has no data.build section (see meta_rfft/data/config.py)")
  logging.basicConfig(level=logging.INFO, format="%(message)s")
  built, code = cli.run_or_report(lambda: (tfds_data.ensure_built(config.data), [
      general_tfds.ensure_built(e, config.data) for e in general_jsonl.parse_entries(config.data.get("extra", ""))]),
                                  "meta_rfft.data")
  if code:
    return code
  (settings, path), extra = built
  totals = {}
  for part in settings.parts:
    totals[part.split] = totals.get(part.split, 0) + part.num_examples
  print(f"{path}\n" + "\n".join(f"{split}: {n} examples" for split, n in totals.items()))
  for built in extra:  # data.extra files, each its own dataset
    counts = ", ".join(f"{split} {n}" for split, n in built.counts.items())
    print(f"{built.path} ({built.settings.entry.path}): {counts} examples")
  return cli.EXIT_OK


if __name__ == "__main__":
  cli.entry(main)
