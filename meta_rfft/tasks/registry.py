"""The task registry: every `data/rule_tasks/*.py` module plus modules named in `META_RFFT_TASK_MODULES`.

Discovery happens at first use. Task modules are data, not a package: each is loaded by path under the
module name `meta_rfft_rule_tasks.<file stem>` and must define `TASK = RuleTask(...)` (or `TASKS`, a list).
Files whose name starts with `_` are skipped. A user registers tasks of their own either by listing their
module (an importable name or a .py path) in `META_RFFT_TASK_MODULES` (comma separated), or by calling
`register_task` / `load_task_module` before building data.
"""
from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import os
import pathlib
import re
import sys
import threading
import types

from meta_rfft import shipped
from meta_rfft.tasks.rule_program import analyse
from meta_rfft.tasks.spec import SPLITS, RuleTask

ENV_VAR = "META_RFFT_TASK_MODULES"
TASK_DIR = shipped.TASK_DIR

_TASKS: dict[str, RuleTask] = {}
_ORIGIN: dict[str, str] = {}
_discovery = "new"  # -> "running" -> "done"
_lock = threading.RLock()
_ID = re.compile(r"[A-Za-z0-9_]+")


def register_task(task: RuleTask, origin: str = "<register_task>") -> RuleTask:
  """Adds `task` to the registry after checking its rule against the tracer's Python subset."""
  if not isinstance(task, RuleTask):
    raise TypeError(f"register_task expects a RuleTask, got {type(task).__name__} from {origin}")
  if not isinstance(task.id, str) or not _ID.fullmatch(task.id):
    raise ValueError(f"task id {task.id!r} from {origin}: use letters, digits and '_' only (a task id names "
                     "files, seqio tasks and dataset splits)")
  analyse(task.rule)  # raises RuleError naming the rule and line if unsupported
  with _lock:
    if task.id in _TASKS and _TASKS[task.id] is not task:
      raise ValueError(f"task id {task.id!r} from {origin} is already registered from {_ORIGIN[task.id]}")
    _TASKS[task.id] = task
    _ORIGIN[task.id] = origin
  return task


def unregister_task(task_id: str) -> None:
  """Removes a task registered in this process (for tests and interactive use); unknown ids are an error."""
  with _lock:
    if task_id not in _TASKS:
      raise ValueError(f"unregister_task: task {task_id!r} is not registered")
    del _TASKS[task_id], _ORIGIN[task_id]


def module_name(path: str | os.PathLike) -> str:
  """The sys.modules name a task module file is loaded under: its stem for the shipped tasks, its stem and a
  digest of its resolved path for any other file (two users' `mine.py` in different folders stay two modules)."""
  path = pathlib.Path(path).resolve()
  if path.parent == TASK_DIR.resolve():
    return f"meta_rfft_rule_tasks.{path.stem}"
  return f"meta_rfft_rule_tasks.{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"


def _module_from_path(path: pathlib.Path) -> types.ModuleType:
  name = module_name(path)
  if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(path):
    return sys.modules[name]
  spec = importlib.util.spec_from_file_location(name, path)
  if spec is None or spec.loader is None:
    raise ImportError(f"cannot load task module {path}")
  module = importlib.util.module_from_spec(spec)
  sys.modules[name] = module  # inspect.getsource (used for the rule text) needs the module registered
  try:
    spec.loader.exec_module(module)
  except Exception as e:
    del sys.modules[name]
    raise ImportError(f"task module {path} failed to import: {type(e).__name__}: {e}") from e
  return module


def load_task_module(path_or_module_name: str) -> list[RuleTask]:
  """Loads a task module (a .py path or an importable module name) and registers its TASK / TASKS."""
  if path_or_module_name.endswith(".py") or os.sep in path_or_module_name:
    path = pathlib.Path(path_or_module_name).resolve()
    if not path.is_file():
      raise FileNotFoundError(f"task module {path_or_module_name!r} does not exist")
    module = _module_from_path(path)
  else:
    module = importlib.import_module(path_or_module_name)
  origin = getattr(module, "__file__", path_or_module_name)
  tasks = list(getattr(module, "TASKS", [])) + ([module.TASK] if hasattr(module, "TASK") else [])
  if not tasks:
    raise ValueError(f"task module {origin} defines neither TASK nor TASKS")
  return [register_task(t, origin) for t in tasks]


def _discover() -> None:
  global _discovery
  with _lock:
    if _discovery != "new":  # "running": a task module asked the registry while being loaded
      return
    _discovery = "running"
    try:
      for path in sorted(TASK_DIR.glob("*.py")):
        if not path.name.startswith("_"):
          load_task_module(str(path))
      for entry in os.environ.get(ENV_VAR, "").split(","):
        if entry.strip():
          load_task_module(entry.strip())
    except BaseException:
      _discovery = "new"  # every later call fails loudly too, instead of using a partial registry
      raise
    _discovery = "done"


def all_tasks() -> list[RuleTask]:
  """Every registered task, sorted by id."""
  _discover()
  return [_TASKS[k] for k in sorted(_TASKS)]


def task_ids() -> list[str]:
  return [t.id for t in all_tasks()]


def tasks_in_split(split: str) -> list[RuleTask]:
  if split not in SPLITS:
    raise ValueError(f"unknown split {split!r}; splits are {SPLITS}")
  return [t for t in all_tasks() if t.split == split]


def nearest_ids(name: str, n: int = 5) -> list[str]:
  ids = task_ids()
  close = difflib.get_close_matches(name, ids, n=n, cutoff=0.4)
  return close or [i for i in ids if name.lower() in i.lower()][:n]


def get_task(task_id: str) -> RuleTask:
  """The registered task `task_id`; an unknown id raises a ValueError listing the nearest ids."""
  _discover()
  if task_id not in _TASKS:
    near = nearest_ids(task_id)
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    raise ValueError(f"unknown task {task_id!r}{hint} ({len(_TASKS)} tasks registered; see "
                     "`python -m meta_rfft.tasks list`)")
  return _TASKS[task_id]
