"""The length study: every task at every length (rule-following traces), greedy, scored by exact match of the
answer after `So the answer is` with its rendering; RUN/eval/ gets samples.jsonl, report.json, report.md and the
accuracy-vs-length plot. Resumable: see meta_rfft/evaluate/samples.py and decode_loop.py."""
from __future__ import annotations

import os
from typing import Any, Callable

from meta_rfft import io_paths, layouts
from meta_rfft.evaluate import examples as examples_lib
from meta_rfft.evaluate import hosts
from meta_rfft.evaluate.config import check_decoding
from meta_rfft.evaluate.decode_loop import decode_samples
from meta_rfft.evaluate.length import metrics, report
from meta_rfft.evaluate.run_settings import keep_chat_date, user_tasks_of
from meta_rfft.evaluate.session import open_session, output_header


def evaluate(cfg, workdir: str, *, model=None, mesh=None, rules=None,
             on_checked: Callable[[], Any] | None = None) -> dict:
  """Runs (or resumes) the evaluation of `cfg` into WORKDIR/eval/; returns the report paths and summary.

  `model`, `mesh`, `rules`: an already-loaded model (the pipeline passes none; tests may). `on_checked`: run on
  process 0 once samples.jsonl is known to match this run's settings (the entry point saves its config there,
  so that a refused resume leaves RUN/eval/ as it was). With several
  processes, call it on every process (after `meta_rfft.distributed.initialize`); only process 0 writes files
  and gets the summary (the others get `paths` {} and `summary` None).
  """
  leader = hosts.is_leader()
  check_decoding(cfg.decoding, tuple(cfg.prompt_buckets), tuple(cfg.new_token_buckets))
  # The checkpoint (config.checkpoint, else WORKDIR's latest step) and WORKDIR/eval/ may each be a local
  # folder or an object-store URL (gs://...): meta_rfft/convert/sources.py reads both.
  ckpt = os.fspath(io_paths.resolve(cfg.checkpoint or workdir))
  eval_layout = layouts.Workdir.at(workdir).eval
  keep_chat_date(cfg, os.fspath(eval_layout.samples))
  fmts = examples_lib.parse_formats(cfg.formats)
  answer = examples_lib.answer_settings(fmts, str(cfg.answer_parse))
  header = output_header(cfg, ckpt, answer)
  eval_dir = os.fspath(eval_layout.root)
  examples_lib.load_user_tasks(cfg.get("user_tasks", ""), user_tasks_of(ckpt))
  tasks = examples_lib.select_tasks(cfg.tasks)
  lengths = examples_lib.lengths_of(cfg.lengths)
  train_lengths = examples_lib.lengths_of(cfg.train_lengths) if cfg.train_lengths else []
  batches = examples_lib.make_batches(fmts, tasks, lengths, int(cfg.samples_per_length), int(cfg.batch_size),
                                      int(cfg.seed))
  kept, decoding = decode_samples(
      cfg, batches, path=os.fspath(eval_layout.samples), header=header, on_checked=on_checked,
      score=examples_lib.scorer(answer["parse"]),
      session=lambda: open_session(cfg, ckpt, model=model, mesh=mesh, rules=rules, stop_texts=answer["stops"]))
  meta = {"checkpoint": ckpt, "samples": sum(len(b.items) for b in batches), "train_lengths": cfg.train_lengths,
          "decoding": decoding or str(cfg.decoding.method),
          "label": cfg.label or os.path.basename(os.path.normpath(workdir))}

  def write():  # process 0 only
    meta["samples"] = len(kept)
    summary = metrics.summarize(kept)
    return {"paths": report.write_reports(eval_dir, summary, meta, train_lengths), "summary": summary,
            "meta": meta}
  result = hosts.on_leader(write, f"writing the reports in {eval_dir}")
  return result if leader else {"paths": {}, "summary": None, "meta": meta}
