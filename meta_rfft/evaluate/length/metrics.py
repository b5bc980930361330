"""Length-generalisation metrics from scored samples, as the paper defines them (docs/evaluation.md).

- accuracy per (format, task, length): exact match of the extracted answer with the reference answer;
- acc_longest: accuracy at the longest length evaluated;
- acc_len30: accuracy at length 30 (None when length 30 was not evaluated);
- max_len_90: the longest length L such that accuracy is >= 90% at every evaluated length up to L (0 when the
  shortest length is already below 90%). "Still >= 90%" is read as "from the start": a model that fails at
  length 6 and happens to pass at 20 has Max_Len_90% = 5.
- loop-count error (rf formats): |iterations traced in the output - iterations the rule really runs|, mean per
  length, and the share of samples whose count is wrong (the failure mode the paper highlights).
Overall numbers are means over tasks (acc_len30 and max_len_90 as in the paper's tables).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Mapping

THRESHOLD = 0.9


def max_len_at(acc_by_length: Mapping[int, float], threshold: float = THRESHOLD) -> int:
  best = 0
  for length in sorted(acc_by_length):
    if acc_by_length[length] < threshold:
      break
    best = length
  return best


def _mean(values: list[float]) -> float | None:
  return sum(values) / len(values) if values else None


def summarize(samples: Iterable[Mapping[str, Any]]) -> dict:
  """{"formats": {fmt: {"tasks": {task: {...}}, "overall": {...}}}} from samples.jsonl records."""
  groups: dict[tuple[str, str, int], list[Mapping[str, Any]]] = defaultdict(list)
  for s in samples:
    groups[(s["format"], s["task"], int(s["length"]))].append(s)
  out: dict[str, Any] = {"formats": {}}
  for fmt in sorted({k[0] for k in groups}):
    tasks = {}
    for task in sorted({k[1] for k in groups if k[0] == fmt}):
      per_length = {}
      for length in sorted(k[2] for k in groups if k[0] == fmt and k[1] == task):
        rows = groups[(fmt, task, length)]
        entry: dict[str, Any] = {"count": len(rows), "accuracy": sum(bool(r["correct"]) for r in rows) / len(rows)}
        loop_rows = [r for r in rows if r.get("ref_loops") is not None]
        if loop_rows:
          errors = [abs(r["traced_loops"] - r["ref_loops"]) for r in loop_rows]
          entry["loop_error_mean"] = sum(errors) / len(errors)
          entry["loop_error_rate"] = sum(e > 0 for e in errors) / len(errors)
        calls = tokens_per_forward(rows)
        if calls is not None:
          entry["tokens_per_forward"] = calls
        per_length[length] = entry
      acc = {length: e["accuracy"] for length, e in per_length.items()}
      longest = max(acc)
      tasks[task] = {
          "lengths": {str(k): v for k, v in per_length.items()},
          "longest_length": longest,
          "acc_longest": acc[longest],
          "acc_len30": acc.get(30),
          "max_len_90": max_len_at(acc),
          "count": sum(e["count"] for e in per_length.values()),
      }
    overall = {
        "tasks": len(tasks),
        "acc_longest": _mean([t["acc_longest"] for t in tasks.values()]),
        "acc_len30": _mean([t["acc_len30"] for t in tasks.values() if t["acc_len30"] is not None]),
        "max_len_90": _mean([float(t["max_len_90"]) for t in tasks.values()]),
        "accuracy_by_length": mean_curve(tasks),
        "tokens_per_forward": tokens_per_forward([r for k, rows in groups.items() if k[0] == fmt for r in rows]),
    }
    out["formats"][fmt] = {"tasks": tasks, "overall": overall}
  return out


def tokens_per_forward(rows: Iterable[Mapping[str, Any]]) -> float | None:
  """Generated tokens per model call over the rows that recorded their calls (samples.jsonl files written
  before calls were recorded have none): 1 for plain greedy decoding, more where drafts were accepted."""
  counted = [r for r in rows if r.get("forwards")]
  if not counted:
    return None
  return sum(int(r["new_tokens"]) for r in counted) / sum(int(r["forwards"]) for r in counted)


def mean_curve(tasks: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
  """Mean accuracy over the tasks evaluated at each length."""
  by_length: dict[int, list[float]] = defaultdict(list)
  for t in tasks.values():
    for length, e in t["lengths"].items():
      by_length[int(length)].append(e["accuracy"])
  return {str(k): sum(v) / len(v) for k, v in sorted(by_length.items())}
