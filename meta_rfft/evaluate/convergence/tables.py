"""The study's numbers from scored samples: accuracy per arm, task and length bucket, and the correlations of
Direct with each base-model arm, over all tasks and separately over tasks seen in RF-pretraining and held out."""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Mapping, Sequence

from meta_rfft.evaluate.convergence import arms, stats
from meta_rfft.tasks.cli import parse_lengths

GROUPS = ("all", "seen", "heldout")


def parse_buckets(text: str, lengths: Sequence[int]) -> list[tuple[str, list[int]]]:
  """config.length_buckets as [(label, lengths)]: "" = one bucket per length; "1-5,6-10" two buckets. Every
  evaluated length must fall in exactly one bucket."""
  if not str(text).strip():
    return [(str(n), [n]) for n in lengths]
  out, owner = [], {}
  for part in (p.strip() for p in str(text).split(",")):
    if not part:
      continue
    try:
      members = parse_lengths(part)
    except ValueError:
      raise ValueError(f"config.length_buckets: cannot parse {part!r} (use e.g. 1-5,6-10)") from None
    for n in members:
      if n in owner:
        raise ValueError(f"config.length_buckets: length {n} is in both {owner[n]!r} and {part!r}")
      owner[n] = part
    out.append((part, [n for n in members if n in lengths]))
  missing = [n for n in lengths if n not in owner]
  if missing:
    raise ValueError(f"config.length_buckets={text!r} leaves lengths {missing} of config.lengths in no bucket")
  return [(label, members) for label, members in out if members]


def _accuracy(rows: Iterable[Mapping]) -> dict:
  rows = list(rows)
  return {"accuracy": sum(bool(r["correct"]) for r in rows) / len(rows), "count": len(rows)}


def accuracy_tables(records: Mapping[str, Sequence[Mapping]], buckets: Sequence[tuple[str, list[int]]]) -> dict:
  """{"by_bucket": {arm: {task: {bucket: {accuracy, count}}}}, "by_length": {arm: {task: {length: ...}}}}."""
  bucket_of = {n: label for label, members in buckets for n in members}
  by_bucket, by_length = {}, {}
  for arm, rows in records.items():
    cells, lengths = defaultdict(list), defaultdict(list)
    for r in rows:
      cells[(r["task"], bucket_of[int(r["length"])])].append(r)
      lengths[(r["task"], int(r["length"]))].append(r)
    by_bucket[arm], by_length[arm] = defaultdict(dict), defaultdict(dict)
    order = {label: i for i, (label, _) in enumerate(buckets)}
    for (task, label), group in sorted(cells.items(), key=lambda kv: (kv[0][0], order[kv[0][1]])):
      by_bucket[arm][task][label] = _accuracy(group)
    for (task, n), group in sorted(lengths.items()):
      by_length[arm][task][str(n)] = _accuracy(group)
    by_bucket[arm], by_length[arm] = dict(by_bucket[arm]), dict(by_length[arm])
  return {"by_bucket": by_bucket, "by_length": by_length}


def group_tasks(task_ids: Sequence[str], seen: set[str]) -> dict[str, list[str]]:
  return {"all": list(task_ids), "seen": [t for t in task_ids if t in seen],
          "heldout": [t for t in task_ids if t not in seen]}


def pairs(ks: Sequence[int]) -> list[tuple[str, str]]:
  """(base-model arm on x, tuned arm on y) pairs the study correlates: the in-context arms, and Base-D as the
  reference of what the base model does without examples."""
  return ([(arms.BASE_D, arms.DIRECT)] + [(arms.gold(k), arms.DIRECT) for k in ks]
          + [(arms.samplegen(k), arms.DIRECT) for k in ks])


def cells_of(by_bucket: Mapping, x_arm: str, y_arm: str, tasks: Sequence[str]) -> dict:
  """cells[task][bucket] = (x accuracy, y accuracy) where both arms have samples."""
  out = {}
  for t in tasks:
    xs, ys = by_bucket.get(x_arm, {}).get(t, {}), by_bucket.get(y_arm, {}).get(t, {})
    both = {b: (xs[b]["accuracy"], ys[b]["accuracy"]) for b in xs if b in ys}
    if both:
      out[t] = both
  return out


def build(records: Mapping[str, Sequence[Mapping]], demo_records: Sequence[Mapping], task_ids: Sequence[str],
          seen: set[str], buckets: Sequence[tuple[str, list[int]]], ks: Sequence[int], bootstrap) -> dict:
  acc = accuracy_tables(records, buckets)
  groups = group_tasks(task_ids, seen)
  correlations = {}
  for group, tasks in groups.items():
    if not tasks:
      continue
    correlations[group] = {}
    for x_arm, y_arm in pairs(ks):
      cells = cells_of(acc["by_bucket"], x_arm, y_arm, tasks)
      correlations[group][f"{y_arm}~{x_arm}"] = {
          "x": x_arm, "y": y_arm, "tasks": sorted(cells),
          **stats.correlate(cells, resamples=int(bootstrap.resamples), confidence=float(bootstrap.confidence),
                            seed=int(bootstrap.seed))}
  means = {}
  for group, tasks in groups.items():
    means[group] = {arm: {label: _mean([acc["by_bucket"][arm][t][label]["accuracy"] for t in tasks
                                        if label in acc["by_bucket"].get(arm, {}).get(t, {})])
                          for label, _ in buckets}
                    for arm in arms.arm_names(ks) if arm in acc["by_bucket"]}
  demo_rows = defaultdict(list)
  for r in demo_records:
    demo_rows[r["task"]].append(r)
  demos = {t: _accuracy(rows) for t, rows in sorted(demo_rows.items())}
  return {"arms": arms.arm_names(ks), "buckets": [label for label, _ in buckets], "groups": groups,
          "accuracy": acc["by_bucket"], "accuracy_by_length": acc["by_length"], "means": means,
          "correlations": correlations, "demonstrations": demos}


def _mean(values: list[float]) -> float | None:
  return sum(values) / len(values) if values else None
