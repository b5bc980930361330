"""The ICL-vs-fine-tuning study end to end: check everything, decode every arm (resumable), then the report.

Order of work: every input is checked first (config keys, tasks, lengths, the base checkpoint, each tuned run and
its vocabulary, and every arm's samples.jsonl already in DIR/convergence/arms/ against this run's settings), so a
refused run writes nothing. Then each tuned model answers Direct's questions and the demonstrations (one load
per tuned run), and the base model answers Base-D, Gold and SampleGen (one load). Each arm's samples.jsonl is
the evaluator's (meta_rfft/evaluate/decode_loop.py: same decoding, scorer and resume), under a header that adds what
fixes the arm's prompts.
"""
from __future__ import annotations

import os
from typing import Any, Callable

from meta_rfft import io_paths, layouts
from meta_rfft.evaluate import examples as examples_lib
from meta_rfft.evaluate import hosts, run_settings
from meta_rfft.evaluate.decode_loop import decode_samples
from meta_rfft.evaluate.config import check_decoding
from meta_rfft.evaluate.convergence import arms, runs
from meta_rfft.evaluate.convergence import report as report_lib
from meta_rfft.evaluate.convergence import tables
from meta_rfft.evaluate.samples import check_prompts, read_samples
from meta_rfft.evaluate.session import ModelSession, open_session, output_header


class _Lazy:
  """A model session opened on first use and kept for the next arm of the same model."""

  def __init__(self, cfg, ckpt: str, stop_texts):
    self.cfg, self.ckpt, self.stop_texts, self.session = cfg, ckpt, stop_texts, None

  def __call__(self) -> ModelSession:
    if self.session is None:
      self.session = open_session(self.cfg, self.ckpt, stop_texts=self.stop_texts)
    return self.session


def run(cfg, workdir: str, on_checked: Callable[[], Any] | None = None) -> dict:
  """Runs (or resumes) the study of `cfg` into WORKDIR/convergence/; returns the report paths and data (process
  0; the others get {}). Call on every process after `meta_rfft.distributed.initialize`."""
  check_decoding(cfg.decoding, tuple(cfg.prompt_buckets), tuple(cfg.new_token_buckets))
  fmt = examples_lib.parse_formats(cfg.format, "format")
  if len(fmt) != 1:
    raise ValueError(f"config.format names one zero-shot format, got {cfg.format!r}")
  fmt = fmt[0]
  answer = examples_lib.answer_settings([fmt], str(cfg.answer_parse))
  base = runs.checkpoint(cfg.base, "base")
  examples_lib.load_user_tasks(cfg.user_tasks, run_settings.user_tasks_of(base))
  tasks = examples_lib.select_tasks(cfg.tasks)
  task_ids = [t.id for t in tasks]
  lengths = examples_lib.lengths_of(cfg.lengths)
  buckets = tables.parse_buckets(cfg.length_buckets, lengths)
  ks = arms.parse_ks(cfg.ks)
  check_bootstrap(cfg.bootstrap)
  tuned = runs.tuned_runs(cfg.tuned, task_ids)
  layout = layouts.Workdir.at(workdir).convergence
  runs.keep_chat_date(cfg, tuned, os.fspath(layout.samples(arms.BASE_D)))
  runs.check_vocabularies(cfg, base, tuned)
  seen = runs.seen_tasks(cfg.seen_tasks, base)
  questions = [it for b in examples_lib.make_batches([fmt], tasks, lengths, int(cfg.samples_per_length),
                                                       int(cfg.batch_size), int(cfg.seed)) for it in b.items]
  if not questions:
    raise ValueError(f"config.lengths={cfg.lengths!r}: no task of config.tasks has an instance at these lengths")
  plan = arms.make_plan(questions, fmt, ks, int(cfg.demo_seed))

  base_header = output_header(cfg, base, answer)
  tuned_headers = {r.label: output_header(cfg, r.path, answer) for r in tuned}
  # SampleGen's prompts hold text the tuned models wrote: the checkpoints (steps) that wrote it are its settings.
  writers = sorted({h["checkpoint"] for h in tuned_headers.values()})

  work = _work_list(layout, plan, fmt, ks, tuned, tuned_headers, base_header, writers)

  def check_resume():  # every existing file against this run, before anything is decoded or written
    for path, (header, items) in work.items():
      check_prompts(path, read_samples(path, header, repair=False), items)
  hosts.on_leader(check_resume, f"reading {layout.arms}")
  if on_checked is not None:
    hosts.on_leader(on_checked, f"writing in {layout.root}")

  def decode(path, session, label, items=None):
    path = os.fspath(path)
    header, known = work[path]
    return decode_samples(cfg, examples_lib.batched(known if items is None else items, int(cfg.batch_size)),
                          path=path, header=header, session=session, label=label,
                          score=examples_lib.scorer(answer["parse"]))[0]

  records: dict[str, list[dict]] = {arms.DIRECT: []}
  demo_records: list[dict] = []
  for r in tuned:
    session = _Lazy(cfg, r.path, answer["stops"])
    records[arms.DIRECT] += decode(layout.samples(arms.DIRECT, r.label), session, f"direct {r.label}")
    demo_records += decode(layout.samples(arms.DEMOS, r.label), session, f"demos {r.label}")
    del session  # one model on the devices at a time
  session = _Lazy(cfg, base, answer["stops"])
  records[arms.BASE_D] = decode(layout.samples(arms.BASE_D), session, arms.BASE_D)
  for k in ks:
    records[arms.gold(k)] = decode(layout.samples(arms.gold(k)), session, arms.gold(k))
  # SampleGen's prompts hold the tuned models' text: process 0 read it, every process must build the same prompts.
  written = hosts.share_json(lambda: [[r["task"], r["length"], r["seed"], r["output"]] for r in demo_records],
                             "sharing the demonstrations")
  by_key = {(t, int(n), int(s)): text for t, n, s, text in written}
  for k in ks:
    records[arms.samplegen(k)] = decode(layout.samples(arms.samplegen(k)), session, arms.samplegen(k),
                                        arms.samplegen_items(plan, k, by_key))
  del session

  meta = {"base": base, "tuned": {r.path: list(r.tasks) for r in tuned}, "format": fmt, "ks": ks,
          "demo_seed": int(cfg.demo_seed), "lengths": lengths, "samples_per_length": int(cfg.samples_per_length),
          "train_lengths": cfg.train_lengths, "seen_tasks": sorted(seen & set(task_ids)),
          "bootstrap": dict(cfg.bootstrap)}

  def write():
    data = tables.build(records, demo_records, task_ids, seen, buckets, ks, cfg.bootstrap)
    return {"paths": report_lib.write(layout, data, meta), "data": data, "meta": meta}
  result = hosts.on_leader(write, f"writing the report in {layout.root}")
  return result if hosts.is_leader() else {}


def _work_list(layout, plan, fmt: str, ks, tuned, tuned_headers: dict, base_header: dict,
               writers: list) -> dict[str, tuple[dict, list]]:
  """Every samples.jsonl the study reads or writes: its header, and its items where they are known before
  decoding (SampleGen's are built from the demonstrations' outputs). The stored prompts are checked too
  (samples.check_prompts), so demonstrations drawn otherwise are never mixed in."""
  def spec(arm: str, k: int | None = None) -> dict:
    return {"format": fmt, "arm": arm, **({"k": k} if k else {})}
  work: dict[str, tuple[dict, list]] = {}
  for r in tuned:
    work[os.fspath(layout.samples(arms.DIRECT, r.label))] = ({**tuned_headers[r.label], **spec(arms.DIRECT)},
                                                             arms.zero_shot(plan, r.tasks))
    work[os.fspath(layout.samples(arms.DEMOS, r.label))] = ({**tuned_headers[r.label], **spec(arms.DEMOS)},
                                                            arms.demo_items(plan, fmt, r.tasks))
  work[os.fspath(layout.samples(arms.BASE_D))] = ({**base_header, **spec(arms.BASE_D)}, arms.zero_shot(plan))
  for k in ks:
    work[os.fspath(layout.samples(arms.gold(k)))] = ({**base_header, **spec(arms.gold(k), k)},
                                                     arms.gold_items(plan, k))
    work[os.fspath(layout.samples(arms.samplegen(k)))] = (
        {**base_header, **spec(arms.samplegen(k), k), "demo_writers": writers}, [])
  return work


def check_bootstrap(b) -> None:
  if int(b.resamples) < 1:
    raise ValueError(f"config.bootstrap.resamples must be >= 1, got {b.resamples}")
  if not 0 < float(b.confidence) < 1:
    raise ValueError(f"config.bootstrap.confidence must be between 0 and 1, got {b.confidence}")


def report_dir(workdir: str) -> str:
  return os.fspath(io_paths.resolve(layouts.Workdir.at(workdir).convergence.root))
