"""Scoring a model on questions with reference answers (config.qa: a JSONL file, e.g. GSM8K's test.jsonl).

The paper checks that RF-pretraining keeps a model's general ability by exact match on the final answer of such
sets (Table 5). Each question is the user turn, rendered as the trainer run rendered its prompts (its chat
template, else [BOS] + question); the model's answer is the first number of the last match of
config.qa_answer_pattern in its output (else that match's text), compared with the reference's as
`answers_match` states.

Decoding is the evaluator's (decode_loop.decode_samples): same batching, decoding methods, several hosts, and a
resumable RUN/eval/qa/<file stem>/samples.jsonl whose header adds the file's content digest, the pattern and the
generation limit, so that a resume with another file or setting is refused by name. The file is read and checked
whole (by process 0, which shares it) before anything is loaded or written.
"""
from __future__ import annotations

import decimal
import hashlib
import os
import re
from typing import Any, Callable, Mapping

from meta_rfft import io_paths, layouts
from meta_rfft.evaluate import examples as examples_lib
from meta_rfft.evaluate import hosts
from meta_rfft.evaluate.config import check_decoding
from meta_rfft.evaluate.decode_loop import decode_samples
from meta_rfft.evaluate.qa import report as qa_report
from meta_rfft.evaluate.run_settings import keep_chat_date
from meta_rfft.evaluate.session import open_session, output_header

FORMAT = "qa"  # the `format` of every QA sample (samples.jsonl rows are keyed format/task/length/seed)
# Settings of output_header that only shape the rule tasks' generation limits (QA's is qa_max_new_tokens).
_RULE_LIMITS = ("max_new_factor", "max_new_extra", "max_new_tokens")


def compile_pattern(pattern: str) -> re.Pattern:
  """config.qa_answer_pattern compiled; a regex that does not compile or has not exactly one group is refused."""
  try:
    compiled = re.compile(str(pattern))
  except re.error as e:
    raise ValueError(f"config.qa_answer_pattern={pattern!r} is not a valid regex ({e})") from None
  if compiled.groups != 1:
    raise ValueError(f"config.qa_answer_pattern={pattern!r} must have exactly one group (the answer), "
                     f"it has {compiled.groups}")
  return compiled


# A number as answers write it: optional sign, digits with thousands separators only in groups of three
# ("1,234,567") or none, an optional decimal part; never part of a longer run of digits, commas, periods or
# underscores ("1,2,3" and "1_000" hold no number).
NUMBER = re.compile(r"(?<![\d,._])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\d,_]|\.\d)")


def last_group(pattern: re.Pattern, text: str) -> str | None:
  """Group 1 of the match of `pattern` that starts last in `text` (matches may overlap: in "#### 7 and #### 9"
  the last one starts at the second marker), stripped; None if nothing matches (or the group took no part)."""
  found, pos = None, 0
  while (m := pattern.search(text, pos)) is not None:
    found = m.group(1)
    pos = m.start() + 1
  return None if found is None else found.strip()


def answer_in(text: str) -> str:
  """The answer a matched group states: its first number, else the group itself."""
  m = NUMBER.search(text)
  return m.group(0) if m else text.strip()


def reference_answer(pattern: re.Pattern, reference: str) -> str:
  """The answer of a reference: `answer_in` its last match of `pattern` (GSM8K's "... #### 72"), else the whole
  text, stripped."""
  found = last_group(pattern, reference)
  return reference.strip() if found is None else answer_in(found)


def normalize_answer(text: str) -> str:
  """An answer as compared: surrounding whitespace and one trailing period dropped ("42." -> "42"); a number's
  thousands separators dropped ("1,000" -> "1000", while "1,2,3" stays as it is)."""
  text = str(text).strip()
  text = text[:-1].rstrip() if text.endswith(".") else text
  return text.replace(",", "") if NUMBER.fullmatch(text) else text


def answers_match(parsed: str, reference: str) -> bool:
  """The rule: the model's answer is the first number of its last match (else that match's text), the
  reference's likewise; both `normalize_answer`ed, they are compared as numbers when both are numbers ("42.0" ==
  "42", "-3" == "-3.00"), otherwise as strings."""
  a, b = normalize_answer(answer_in(parsed)), normalize_answer(answer_in(reference))
  if NUMBER.fullmatch(a) and NUMBER.fullmatch(b):
    return decimal.Decimal(a) == decimal.Decimal(b)
  return a == b


def _string(obj: Mapping[str, Any], key: str, where: str) -> str:
  value = obj.get(key)
  if value is None:
    raise ValueError(f"{where}: no {key!r} key (each line must be an object with a string \"question\" and "
                     f"\"answer\")")
  if not isinstance(value, str):
    raise ValueError(f"{where}: {key!r} must be a string, got {type(value).__name__}")
  if not value.strip():
    raise ValueError(f"{where}: {key!r} is empty")
  return value


def read_questions(path: str) -> dict:
  """{"sha1": the file's content digest, "rows": [{"line", "question", "answer"[, "id"]}]}; every line that is not
  one such JSON object is refused, naming the file and its line number. Blank lines are skipped."""
  source = io_paths.resolve(path)
  if source.is_dir():
    raise ValueError(f"config.qa={path!r} is a folder; give a JSONL file of questions")
  try:
    data = source.read_bytes()
  except FileNotFoundError:
    raise ValueError(f"config.qa: no such file: {path}") from None
  except OSError as e:
    raise ValueError(f"config.qa={path!r} cannot be read: {e.strerror or e}") from None
  rows = []
  for number, where, obj in io_paths.jsonl_values(data, path):
    if not isinstance(obj, dict):
      raise ValueError(f"{where}: not a JSON object (got {type(obj).__name__})")
    row = {"line": number, "question": _string(obj, "question", where), "answer": _string(obj, "answer", where)}
    if "id" in obj:
      row["id"] = obj["id"]
    rows.append(row)
  if not rows:
    raise ValueError(f"{path}: no questions (the file is empty)")
  return {"sha1": hashlib.sha1(data).hexdigest(), "rows": rows}


def stem_of(path: str) -> str:
  """The file's name without its extension: the name of its evaluation folder (and of its samples' task)."""
  stem = os.path.splitext(os.path.basename(os.fspath(path).rstrip("/")))[0]
  if stem in ("", ".", ".."):
    raise ValueError(f"config.qa={path!r} does not name a file")
  return stem


def layout_of(workdir: str, path: str) -> layouts.QaEvalDir:
  return layouts.Workdir.at(workdir).eval.qa(stem_of(path))


def make_items(stem: str, rows, pattern: re.Pattern) -> list[examples_lib.Item]:
  """One work item per question: its line number is its seed (what keys it in samples.jsonl)."""
  return [examples_lib.Item(FORMAT, stem, 0, int(r["line"]), r["question"], r["answer"],
                            reference_answer(pattern, r["answer"]), None) for r in rows]


def header_of(cfg, ckpt: str, sha1: str) -> dict:
  """Every setting that changes a QA sample's row: the model's (session.output_header, without the rule tasks'
  limits), the file's content, the pattern and the generation limit."""
  header = {k: v for k, v in output_header(cfg, ckpt).items() if k not in _RULE_LIMITS}
  return {**header, "qa_sha1": sha1, "qa_answer_pattern": str(cfg.qa_answer_pattern),
          "qa_max_new_tokens": int(cfg.qa_max_new_tokens)}


def scorer(pattern: re.Pattern, ids: Mapping[int, Any]) -> Callable[..., list[dict]]:
  """decode_samples's `score` for QA rows (`ids`: the file's "id" of a line, where it has one)."""
  def score(batch: examples_lib.Batch, outputs, new_tokens, forwards) -> list[dict]:
    rows = []
    for item, text, n, calls in zip(batch.items, outputs, new_tokens, forwards):
      parsed = last_group(pattern, text)
      row = {"batch": batch.id, "format": item.fmt, "task": item.task_id, "length": item.length, "seed": item.seed,
             "line": item.seed, "prompt": item.inputs, "output": text, "parsed": parsed, "reference": item.answer,
             "correct": parsed is not None and answers_match(parsed, item.answer), "new_tokens": n,
             "forwards": calls}
      if item.seed in ids:
        row["id"] = ids[item.seed]
      rows.append(row)
    return rows
  return score


def evaluate(cfg, workdir: str, *, model=None, mesh=None, rules=None,
             on_checked: Callable[[], Any] | None = None) -> dict:
  """Runs (or resumes) the scoring of config.qa into RUN/eval/qa/<file stem>/; returns {"paths", "report",
  "decoded"} ("decoded": whether this run decoded anything). As length.run.evaluate: `model`, `mesh`, `rules` an
  already-loaded model; `on_checked` runs on process 0 once samples.jsonl is known to match; call on every
  process; only process 0 writes and gets the report (the others get `paths` {} and `report` None)."""
  check_decoding(cfg.decoding, tuple(cfg.prompt_buckets), tuple(cfg.new_token_buckets))
  pattern = compile_pattern(cfg.qa_answer_pattern)
  for key in ("qa_max_new_tokens", "batch_size"):
    if int(cfg[key]) < 1:
      raise ValueError(f"config.{key} must be >= 1, got {cfg[key]}")
  path = str(cfg.qa)
  stem, layout = stem_of(path), layout_of(workdir, path)
  # Process 0 reads the file (hosts need not share a filesystem); every process builds the same work list.
  questions = hosts.share_json(lambda: read_questions(path), f"reading {path}")
  ckpt = os.fspath(io_paths.resolve(cfg.checkpoint or workdir))
  keep_chat_date(cfg, os.fspath(layout.samples))
  header = header_of(cfg, ckpt, questions["sha1"])
  items = make_items(stem, questions["rows"], pattern)
  # Questions of similar length share a batch: less padding (rows are keyed per question, not per batch).
  batches = examples_lib.batched(sorted(items, key=lambda it: len(it.inputs)), int(cfg.batch_size))
  ids = {int(r["line"]): r["id"] for r in questions["rows"] if "id" in r}
  max_new = int(cfg.qa_max_new_tokens)
  records, decoding = decode_samples(
      cfg, batches, path=os.fspath(layout.samples), header=header, on_checked=on_checked, label=f"qa {stem}",
      session=lambda: open_session(cfg, ckpt, model=model, mesh=mesh, rules=rules),
      score=scorer(pattern, ids), limit=lambda _: max_new)
  meta = {"file": os.fspath(io_paths.resolve(path)), "sha1": questions["sha1"], "pattern": str(cfg.qa_answer_pattern),
          "max_new_tokens": max_new, "checkpoint": ckpt, "decoding": decoding or str(cfg.decoding.method),
          "label": cfg.label or os.path.basename(os.path.normpath(workdir))}
  result = hosts.on_leader(lambda: qa_report.write(layout, records, meta), f"writing the reports in {layout.root}")
  report, paths = result if result is not None else (None, {})
  return {"paths": paths, "report": report, "decoded": decoding is not None}
