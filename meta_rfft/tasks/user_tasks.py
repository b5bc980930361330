"""A user's own rule tasks, named by a config: `config.data.user_tasks`, the evaluator's `config.user_tasks`,
the pipeline's `config.data.user_tasks` and the task CLI's `--user_tasks`.

A spec is "" or a comma-separated list of task modules (.py paths or importable module names), each defining
`TASK = RuleTask(...)` or `TASKS = [...]` (meta_rfft/tasks/spec.py; data/examples/baggage_fees.py is one).
`load_user_tasks(spec)` registers their tasks (registry.load_task_module: loading a module again is a no-op)
and validates every task the way the data build checks each example it stores (formats.check_instance): at
every length 1..VALIDATE_MAX_LENGTH in the task's range, the instances of VALIDATE_SEEDS must trace to the
reference's answer. A module that does not load, or a task that fails, is a ValueError naming the config key,
the module and the task; whatever that call registered is unregistered again, so a fixed module can be loaded
in the same process. Validation runs once per (module file, content hash) in a process.

Child processes: the data build's fork pool inherits the registry, but a process started afresh (evaluation or
launcher subprocesses, workers started with this environment) discovers tasks anew. Loaded modules are added
to $META_RFFT_TASK_MODULES (registry.ENV_VAR), which that discovery reads, so those processes see the same
tasks without being handed the config.

`source_digest(task)`: what a data build's name adds for a task outside data/rule_tasks/ (whose code changes
materialize.RENDER_VERSION covers): a hash of its module's source, so an edited user task builds anew.
"""
from __future__ import annotations

import hashlib
import inspect
import os
import pathlib
import sys
import traceback
from typing import Any

from meta_rfft.tasks import formats, registry
from meta_rfft.tasks.rule_program import analyse
from meta_rfft.tasks.spec import RuleTask

DEFAULT_KEY = "config.data.user_tasks"
VALIDATE_MAX_LENGTH = 30
VALIDATE_SEEDS = (0, 1)  # the first train instances of build seed 0 (materialize.example_seed)

_VALIDATED: dict[tuple[str, str], tuple[RuleTask, ...]] = {}  # (module file, sha256) -> its validated tasks
_LOADED: dict[str, str] = {}  # module file -> sha256 of the source this process executed


def is_path(entry: str) -> bool:
  """Whether a spec entry is a file path rather than a module name (registry.load_task_module's own test)."""
  return entry.endswith(".py") or os.sep in entry


def entries(spec: str) -> list[str]:
  """The modules of a spec, each once, paths made absolute so that a process started elsewhere finds them."""
  out = []
  for part in str(spec or "").split(","):
    part = part.strip()
    if part and is_path(part):
      part = str(pathlib.Path(part).expanduser().resolve())
    if part and part not in out:
      out.append(part)
  return out


def _sha256(path: str) -> str:
  return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def source_digest(task: RuleTask) -> str | None:
  """A hash of the source of `task`'s module; None for a built-in task (a module in registry.TASK_DIR)."""
  file = inspect.getsourcefile(task.rule)
  if file and pathlib.Path(file).resolve().parent == registry.TASK_DIR:
    return None
  try:
    return _sha256(file)[:16]
  except (OSError, TypeError):  # a rule compiled from a string: only its own source is known
    return hashlib.sha256(analyse(task.rule).source.encode()).hexdigest()[:16]


def load_user_tasks(spec: str, key: str = DEFAULT_KEY) -> list[RuleTask]:
  """Registers and validates the tasks of every module in `spec`; returns them. See the module docstring."""
  if not isinstance(spec, str):
    raise ValueError(f"{key} must be a comma-separated string of task modules, got {type(spec).__name__} "
                     f"{spec!r}")
  mods = entries(spec)
  if not mods:
    return []
  registry.all_tasks()  # built-ins first: a user task reusing a built-in's id is then the user module's error
  before = set(registry.task_ids())
  saved = {name: sys.modules.get(name) for name in map(_module_name, mods)}
  tasks = []
  try:
    for entry in mods:
      tasks.extend(_load_one(entry, key))
  except BaseException:
    _roll_back(before, saved)
    raise
  _export(mods)
  return tasks


def _module_name(entry: str) -> str:
  """The sys.modules name a spec entry is loaded under (registry._module_from_path names path modules so)."""
  return registry.module_name(entry) if is_path(entry) else entry


def _roll_back(before: set[str], saved: dict[str, Any]) -> None:
  for task_id in set(registry.task_ids()) - before:
    registry.unregister_task(task_id)
  for name, module in saved.items():  # a fixed module is then executed again, not served from sys.modules
    if module is None:
      sys.modules.pop(name, None)
    else:
      sys.modules[name] = module


def _load_one(entry: str, key: str) -> list[RuleTask]:
  where = f"{key}: task module {entry}"
  if is_path(entry) and not os.path.isfile(entry):
    raise ValueError(f"{where} does not exist")
  # A path is hashed before loading, so that the hash is of what gets executed.
  before = _sha256(entry) if is_path(entry) else None
  previous = sys.modules.get(_module_name(entry))
  try:
    tasks = registry.load_task_module(entry)
  except Exception as e:  # noqa: BLE001  (import, syntax, rule outside the subset, id clash: all the user's)
    if entry in str(e):  # the registry's own message already names the module
      raise ValueError(f"{key}: {e}") from e
    raise ValueError(f"{where} cannot be loaded: {type(e).__name__}: {e}") from e
  module = sys.modules.get(_module_name(entry))
  file = getattr(module, "__file__", None)
  if file is None:
    raise ValueError(f"{where} has no source file to validate and hash")
  digest = before or _sha256(file)
  if module is not previous:
    _LOADED[file] = digest
  elif _LOADED.setdefault(file, digest) != digest:  # sys.modules serves the version loaded earlier
    raise ValueError(f"{where} changed since this process loaded it; start a new process to load the new "
                     "version")
  if _VALIDATED.get((file, digest)) != tuple(tasks):
    for task in tasks:
      validate(task, f"{key}: task {task.id!r} of {file}")
    _VALIDATED[(file, digest)] = tuple(tasks)
  return tasks


def _lengths(task: RuleTask) -> range:
  hi = VALIDATE_MAX_LENGTH if task.max_length is None else min(task.max_length, VALIDATE_MAX_LENGTH)
  # A task whose lengths all exceed VALIDATE_MAX_LENGTH is still checked, at its shortest length.
  return range(task.min_length, max(hi, task.min_length) + 1)


def validate(task: RuleTask, where: str) -> None:
  """Raises a ValueError starting with `where` unless every checked instance of `task` traces to its reference
  answer: the very check the data build makes before storing an example (formats.check_instance)."""
  for length in _lengths(task):
    for seed in VALIDATE_SEEDS:
      at = f"{where}, length {length}, seed {seed}"
      try:
        instance = formats.sample_instance(task, length, seed)
      except Exception as e:  # noqa: BLE001
        raise ValueError(f"{at}: sample() raised {type(e).__name__}: {e}") from e
      try:
        formats.check_instance(task, instance)
        question = task.question(instance)
      except Exception as e:  # noqa: BLE001
        culprit = _culprit(e, task)
        if culprit is None and isinstance(e, formats.ReferenceMismatch):  # the comparison itself: answers differ
          raise ValueError(f"{at}: {str(e).removeprefix(f'task {task.id!r}: ')}") from None
        raise ValueError(f"{at}: {culprit or 'checking the instance'} raised {type(e).__name__}: {e} on "
                         f"instance {instance!r}") from e
      if not isinstance(question, str):
        raise ValueError(f"{at}: question() returned {type(question).__name__}, not a str")


def _culprit(error: BaseException, task: RuleTask) -> str | None:
  """Which of the task's functions `error` came out of (from its traceback), if any."""
  codes = {frame.f_code for frame, _ in traceback.walk_tb(error.__traceback__)}
  for name, fn in (("the rule", task.rule), ("reference()", task.reference), ("question()", task.question)):
    fn = getattr(fn, "func", fn)  # functools.partial
    if getattr(fn, "__code__", None) in codes:
      return name
  return None


def _export(mods: list[str]) -> None:
  current = os.environ.get(registry.ENV_VAR, "")
  known = entries(current)
  added = [m for m in mods if m not in known]
  if added:
    os.environ[registry.ENV_VAR] = ",".join([e for e in current.split(",") if e.strip()] + added)
