"""`--config=FILE[:arg]` and `--config.a.b=value` for every entry point.

A config file is a small Python module with `get_config(arg=None) -> ml_collections.ConfigDict` (big_vision
style). Overrides are checked before any work starts: an unknown key stops the program with the nearest valid
keys, a value that does not parse as the field's type stops it naming the key and the expected type. The
resolved config is locked (no new keys by accident) and written into the run's work directory.
"""
from __future__ import annotations

import ast
import difflib
import importlib.util
import json
import os
import sys
from typing import Any, Sequence

import ml_collections

from meta_rfft import cli, io_paths, shipped


class ConfigError(ValueError):
  """A bad --config or --config.* flag; the message names the key at fault."""


def load_config_file(spec: str) -> ml_collections.ConfigDict:
  """Loads `FILE[:arg]`, calling the module's get_config(arg). `configs/NAME.py` that is not there (an installed
  package run outside a checkout) is the copy shipped with the package."""
  path, _, arg = spec.partition(":")
  if not os.path.exists(path) and os.path.dirname(os.path.normpath(path)) == "configs":
    path = os.fspath(shipped.CONFIGS_DIR / os.path.basename(path))
  if not os.path.exists(path):
    raise ConfigError(f"--config: no such config file {spec.partition(':')[0]!r}")
  name = "meta_rfft_config_" + os.path.splitext(os.path.basename(path))[0]
  module_spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ConfigError(f"--config: {path} defines no get_config(arg)")
  try:
    config = module.get_config(arg) if arg else module.get_config()
  except ValueError as e:  # e.g. an unknown variant: the file's own message names it
    raise ConfigError(f"--config={path}{':' + arg if arg else ''}: {e}") from None
  if not isinstance(config, ml_collections.ConfigDict):
    raise ConfigError(f"--config: {path}:get_config returned {type(config).__name__}, not a ConfigDict")
  return config


def flatten_keys(config: ml_collections.ConfigDict, prefix: str = "") -> list[str]:
  keys = []
  for key, value in config.items():
    path = f"{prefix}{key}"
    keys.append(path)
    if isinstance(value, ml_collections.ConfigDict):
      keys.extend(flatten_keys(value, path + "."))
  return keys


def _nearest(path: str, config: ml_collections.ConfigDict) -> str:
  candidates = flatten_keys(config)
  close = difflib.get_close_matches(path, candidates, n=3, cutoff=0.5)
  if not close:  # fall back on siblings of the deepest existing parent
    parent = path.rpartition(".")[0]
    close = [c for c in candidates if c.rpartition(".")[0] == parent][:8]
  return ", ".join(f"config.{c}" for c in close) or "(none)"


def _parse_bool(text: str) -> bool:
  lowered = text.strip().lower()
  if lowered in ("true", "1", "yes"):
    return True
  if lowered in ("false", "0", "no"):
    return False
  raise ValueError(text)


def parse_value(text: str, current: Any, key: str) -> Any:
  """Parses `text` as the type of the field's current value."""
  expected = type(current)
  try:
    if isinstance(current, bool):
      return _parse_bool(text)
    if isinstance(current, int):
      return int(text)
    if isinstance(current, float):
      return float(text)
    if isinstance(current, str):
      return text
    if isinstance(current, (tuple, list)):
      try:
        value = ast.literal_eval(text)
      except (ValueError, SyntaxError):
        value = [v.strip() for v in text.split(",") if v.strip()]
      if not isinstance(value, (tuple, list)):
        value = [value]
      return expected(value)
    if isinstance(current, dict):
      value = ast.literal_eval(text)
      if not isinstance(value, dict):
        raise ValueError(text)
      return value
    if current is None:  # untyped optional field: a Python literal, else the string itself
      try:
        return ast.literal_eval(text)
      except (ValueError, SyntaxError):
        return text
  except (ValueError, SyntaxError):
    raise ConfigError(f"--config.{key}={text!r}: expected a value of type {expected.__name__}") from None
  raise ConfigError(f"--config.{key}: cannot override a field of type {expected.__name__} from the command line")


def apply_override(config: ml_collections.ConfigDict, key: str, text: str) -> None:
  node = config
  parts = key.split(".")
  for i, part in enumerate(parts):
    is_last = i == len(parts) - 1
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      raise ConfigError(f"--config.{key}: unknown config key; nearest valid keys: {_nearest(key, config)}")
    if is_last:
      current = node[part]
      if isinstance(current, ml_collections.ConfigDict):
        raise ConfigError(f"--config.{key} is a section, not a value; set one of its keys: "
                          f"{', '.join('config.' + key + '.' + k for k in current.keys())}")
      field_type = None
      try:
        field_type = node.get_type(part)
      except (AttributeError, KeyError):
        pass
      if current is None and field_type not in (None, type(None)):
        current = field_type()  # a typed placeholder: parse as its declared type
      with node.ignore_type():
        node[part] = parse_value(text, current, key)
    else:
      node = node[part]


def split_config_args(argv: Sequence[str]) -> tuple[str | None, list[tuple[str, str]], list[str]]:
  """Separates --config / --config.* flags (either `--k=v` or `--k v`) from the entry point's other flags."""
  spec, overrides, rest = None, [], []
  i = 0
  argv = list(argv)
  while i < len(argv):
    arg = argv[i]
    if arg == "--config" or arg.startswith("--config=") or arg.startswith("--config."):
      name, eq, value = arg.partition("=")
      if not eq:
        if i + 1 >= len(argv):
          raise ConfigError(f"{name}: missing value")
        value = argv[i + 1]
        i += 1
      if name == "--config":
        spec = value
      else:
        overrides.append((name[len("--config."):], value))
    else:
      rest.append(arg)
    i += 1
  return spec, overrides, rest


def load_config(argv: Sequence[str], default: str | None = None) -> tuple[ml_collections.ConfigDict, list[str]]:
  """The resolved, locked config and the argv left for the entry point's own flags."""
  spec, overrides, rest = split_config_args(argv)
  spec = spec or default
  if spec is None:
    raise ConfigError("--config=FILE[:arg] is required")
  config = load_config_file(spec)
  for key, value in overrides:
    apply_override(config, key, value)
  config.lock()
  return config, rest


def save_config(config: ml_collections.ConfigDict, workdir: str, argv: Sequence[str] | None = None) -> str:
  """Writes the resolved config (and the command line) to WORKDIR/config.json atomically.

  WORKDIR may be a local folder or an object-store URL (gs://...): see meta_rfft/io_paths.py."""
  path = io_paths.resolve(workdir) / "config.json"
  payload = {"command": list(argv if argv is not None else sys.argv), "config": json.loads(config.to_json_best_effort())}
  io_paths.write_text(path, json.dumps(payload, indent=2, sort_keys=True))
  return os.fspath(path)


def main_with_config(argv: Sequence[str], default: str | None = None):
  """For entry points: loads the config, printing a ConfigError as one line and exiting 2."""
  try:
    return load_config(argv, default)
  except ConfigError as e:
    sys.exit(cli.fail(str(e)))
