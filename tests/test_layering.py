"""Layers point down: a package imports only packages below it, so that following a value from the trainer into
the model, or a checkpoint from the evaluator to its weights, never climbs back up. Imports inside functions
count too. A new package must take its place in LAYERS."""
from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1] / "meta_rfft"

# Bottom first. A package may import packages of a lower rank, never of its own rank or a higher one.
LAYERS = [
    {"io_paths", "scratch", "shipped"},
    {"layouts", "cli", "progress_bar"},
    {"sharding"},
    {"config", "model", "distributed", "tasks"},
    {"data", "convert"},
    {"multiturn"},
    {"train"},
    {"evaluate"},
    {"pipeline", "tart"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _imports(path: pathlib.Path):
  """(line, imported meta_rfft package) for every import in `path`."""
  for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
    if isinstance(node, ast.Import):
      names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      names = [node.module] if node.module != "meta_rfft" else [f"meta_rfft.{a.name}" for a in node.names]
    else:
      continue
    for name in names:
      parts = name.split(".")
      if parts[0] == "meta_rfft" and len(parts) > 1:
        yield node.lineno, parts[1]


def test_every_package_has_a_layer():
  packages = {p.stem if p.is_file() else p.name for p in ROOT.iterdir()
              if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").exists())}
  assert packages == set(RANK), f"place these in LAYERS: {sorted(packages - set(RANK))}; " \
                                f"gone: {sorted(set(RANK) - packages)}"


def test_no_import_climbs_to_a_higher_layer():
  upward = []
  for path in sorted(ROOT.rglob("*.py")):
    own = path.relative_to(ROOT).with_suffix("").parts[0]
    for line, other in _imports(path):
      if other != own and RANK[other] >= RANK[own]:
        upward.append(f"{path.relative_to(ROOT.parent)}:{line} ({own}) imports {other}")
  assert not upward, "\n".join(upward)
