"""Runs the pipeline's named stages once each, and never reuses one that was made with other settings.

A finished stage leaves DIR/stages/<name>.json: its wall and CPU seconds, its result, and the settings it ran
with (the trainer or evaluation config it was given, or the few keys it reads), with the digests of the stages
whose output it reads (`after`). A rerun skips a stage whose recorded settings equal this run's. When they differ
(a changed key, or a stage it reads that changed) the rerun stops before that stage, naming it and each key that
differs, unless `rerun_changed` is set: then the stage's folders are cleared and it runs again, and so does every
stage that reads it (its `after` digest changes). Paths under DIR are recorded relative to DIR, so a moved DIR
still matches. Names may hold "/" (e.g. `seed_0/lc_258/meta`): sub-folders of stages/.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from typing import Any, Callable, Iterable, Mapping

RERUN_HINT = ("use another --workdir, set the keys back, or add --config.rerun_changed=true to run it (and every "
              "stage that reads it) again; their folders are replaced")


class StageChanged(ValueError):
  """A finished stage's recorded settings differ from this run's; the message names the stage and the keys."""


def digest(settings: Mapping[str, Any]) -> str:
  return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
  if isinstance(value, Mapping):
    out = {}
    for k, v in value.items():
      out.update(_flatten(v, f"{prefix}{k}."))
    return out or {prefix.rstrip("."): {}}
  return {prefix.rstrip("."): value}


def differences(before: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
  """`key: before -> now` for every leaf that differs."""
  old, new = _flatten(before), _flatten(now)
  return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


class StageRunner:

  def __init__(self, stages_dir: str, *, root: str = "", rerun_changed: bool = False,
               log: Callable[[str], None] = print):
    """`root`: DIR, whose paths the recorded settings hold relative to it."""
    self.dir = stages_dir
    self.root = os.path.abspath(root) if root else ""
    self.rerun_changed = rerun_changed
    os.makedirs(self.dir, exist_ok=True)
    self.log = log

  def path(self, name: str) -> str:
    return os.path.join(self.dir, f"{name}.json")

  def done(self, name: str) -> dict | None:
    if os.path.exists(self.path(name)):
      with open(self.path(name)) as f:
        return json.load(f)
    return None

  def _relative(self, value: Any) -> Any:
    if isinstance(value, Mapping):
      return {str(k): self._relative(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
      return [self._relative(v) for v in value]
    if isinstance(value, str) and self.root and (value == self.root or value.startswith(self.root + os.sep)):
      return "DIR" + value[len(self.root):]
    return value

  def settings_of(self, settings: Mapping[str, Any] | None, after: Iterable[str]) -> dict:
    """What a stage records: its settings (paths under DIR made relative) and the digest of each stage it reads."""
    upstream = {}
    for name in after:
      record = self.done(name)
      if record is None:
        raise RuntimeError(f"stage {name!r} must finish before the stages that read it")
      upstream[name] = record.get("digest") or digest(record.get("settings") or {})
    return {"settings": self._relative(json.loads(json.dumps(dict(settings or {}), default=str))),
            "after": upstream}

  def run(self, name: str, fn: Callable[[], Any], settings: Mapping[str, Any] | None = None,
          after: Iterable[str] = (), clear: Iterable[str] = ()) -> Any:
    """fn's result, from this run or recorded by an earlier one with the same settings. `clear`: the folders the
    stage writes, removed before it runs again because its settings changed."""
    want = self.settings_of(settings, after)
    record = self.done(name)
    if record is not None:
      if "settings" not in record:
        changed = ["(recorded by an older version of the pipeline, without its settings)"]
      else:
        changed = differences({"settings": record["settings"], "after": record.get("after", {})}, want)
      if not changed:
        self.log(f"[pipeline] {name}: already done ({record['seconds']:.0f} s), skipped")
        return record["result"]
      if not self.rerun_changed:
        raise StageChanged(f"stage {name!r} finished with other settings than this run's: "
                           + "; ".join(changed[:12]) + (f" (and {len(changed) - 12} more)" if len(changed) > 12 else "")
                           + f". {RERUN_HINT}")
      self.log(f"[pipeline] {name}: settings changed ({'; '.join(changed[:4])}), running it again")
      for folder in clear:
        shutil.rmtree(folder, ignore_errors=True)
      os.remove(self.path(name))
    self.log(f"[pipeline] {name}: running")
    start, cpu_start = time.perf_counter(), time.process_time()
    result = fn()
    # process_time counts every thread of this process (XLA's and tf.data's included): the CPU the stage cost.
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    path = self.path(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
      json.dump({"seconds": seconds, "cpu_seconds": cpu, "result": result, **want, "digest": digest(want)}, f,
                indent=2)
    os.replace(path + ".tmp", path)
    self.log(f"[pipeline] {name}: done in {seconds:.0f} s ({cpu:.0f} s CPU)")
    return result

  def records(self) -> dict[str, dict]:
    """Every finished stage's record, by name, in the order they finished."""
    found = []
    for folder, _, files in os.walk(self.dir):
      for name in files:
        if name.endswith(".json"):
          full = os.path.join(folder, name)
          found.append((os.path.getmtime(full), os.path.relpath(full, self.dir)[:-5], full))
    out = {}
    for _, name, full in sorted(found):
      with open(full) as f:
        record = json.load(f)
      out[name.replace(os.sep, "/")] = {"seconds": record["seconds"], "cpu_seconds": record.get("cpu_seconds")}
    return out
