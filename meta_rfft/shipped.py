"""Where the files that ship with the code lie, named in one place: the task modules (data/rule_tasks/), the TFDS
builder (data/meta_rfft_tfds/), the example user task (data/examples/) and the pretrained models
(data/pretrained/<name>/, each an HF checkpoint with its card).

They sit in the repository's top-level data/ folder; an installed (non-editable) package carries the same tree as
package data (setup.py), found here the same way."""
from __future__ import annotations

import os
import pathlib

_PACKAGE = pathlib.Path(__file__).resolve().parent
REPO_ROOT = _PACKAGE.parent  # a checkout's root (tests and benchmarks run from one)
# A checkout: data/ beside the package. An installed package: setup.py puts data/ inside it as _data/.
DATA_DIR = next((p for p in (REPO_ROOT / "data", _PACKAGE / "_data") if (p / "rule_tasks").is_dir()),
                REPO_ROOT / "data")
CONFIGS_DIR = next((p for p in (REPO_ROOT / "configs", _PACKAGE / "_configs") if p.is_dir()), REPO_ROOT / "configs")
TASK_DIR = DATA_DIR / "rule_tasks"
TFDS_BUILDER_FILE = DATA_DIR / "meta_rfft_tfds" / "meta_rfft_tfds.py"
EXAMPLES_DIR = DATA_DIR / "examples"
PRETRAINED_DIR = DATA_DIR / "pretrained"
PRETRAINED_MODELS = ("base", "rf_pretrained", "rf_control")


def pretrained_model(name: str, root: str | os.PathLike = "") -> str:
  """The folder of a shipped model (an HF checkpoint with card.json), under `root` ("" = data/pretrained/)."""
  folder = pathlib.Path(root or PRETRAINED_DIR) / name
  if not (folder / "config.json").is_file():
    raise ValueError(f"no pretrained model {name!r} in {folder.parent} (config.json missing in {folder}); "
                     "train it with configs/pretrained_models.py or use --config.pretrained=train")
  return os.fspath(folder)
