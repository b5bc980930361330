"""The evaluation loop: work list -> batched greedy decoding -> scored samples.jsonl -> reports.

Resumable: every finished batch is appended to RUN/eval/samples.jsonl in one write (then flushed and
fsynced). A sample is known by what it is (format, task, length, instance seed), never by the batch it came in:
on restart a torn last line is dropped, the samples already there are kept once each, and only the missing ones
are decoded, in batches of this run's batch_size. The file starts with every setting that changes a sample's
output (checkpoint, instances, generation limits, position ids, compute and parameter dtypes, vocabulary); a
restart with different settings stops with an error naming them instead of mixing two evaluations in one
report.

On several processes (hosts) every process decodes every batch (SPMD programs on the global mesh); only
process 0 reads and writes RUN/eval/, and tells the others which batches are finished (`hosts`).
"""
from __future__ import annotations

import dataclasses
import json
import os
import zlib
from typing import Any, Callable, Mapping, Sequence

from meta_rfft import io_paths, layouts
from meta_rfft.evaluate import examples as examples_lib
from meta_rfft.evaluate import hosts, metrics, report
from meta_rfft.evaluate.config import check_decoding, decode_scan_layers
from meta_rfft.evaluate.decode import GreedyDecoder, strip_eos
from meta_rfft.evaluate.progress import Progress
from meta_rfft.tasks.answers import extract_answer

def run_of(ckpt: str) -> layouts.Workdir:
  """The trainer WORKDIR of `ckpt`: itself, or the run above a WORKDIR/checkpoints/<step> folder (a converted
  checkpoint is returned as is, and has no config.json)."""
  path = io_paths.resolve(ckpt)
  if path.parent.name == "checkpoints":
    return layouts.Step(path).workdir
  return layouts.Workdir(path)


def run_data_section(ckpt: str) -> dict:
  """The `data` section of the trainer run that wrote `ckpt` ({} for a converted checkpoint)."""
  run_config = run_of(ckpt).config
  return io_paths.read_json(run_config).get("config", {}).get("data", {}) if run_config.is_file() else {}


def eval_vocabulary(vocab_spec: str, ckpt: str, hf_dir: str):
  """The vocabulary the model was trained with: `config.vocab` if set, else the trainer run's `data.vocab`
  (WORKDIR/config.json), else the checkpoint's tokenizer.json. `ckpt`, `hf_dir`: local folders or URLs."""
  from meta_rfft.data.vocab import make_vocabulary
  if vocab_spec:
    return make_vocabulary(vocab_spec)
  spec = run_data_section(ckpt).get("vocab")
  if spec:
    return make_vocabulary(spec)
  if (io_paths.resolve(hf_dir) / "tokenizer.json").is_file():
    return make_vocabulary(hf_dir)
  raise ValueError(f"config.vocab is empty and neither {os.fspath(run_of(ckpt).config)} (data.vocab) nor "
                   f"{hf_dir}/tokenizer.json names the vocabulary; set --config.vocab=char or a "
                   f"tokenizer.json path")


def eval_codec(cfg, ckpt: str, vocab):
  """How prompts become tokens and where generation stops (meta_rfft/data/example_codec.py): config.chat_template
  with config.system_prompt if set, else as the trainer run that wrote `ckpt` trained (its data section; a run
  config without the key predates chat templates and trained plain prompts; config.system_prompt may still
  replace its system prompt), else "auto"."""
  from meta_rfft.data.example_codec import make_codec
  run_config = run_of(ckpt).config
  data = run_data_section(ckpt)
  trained = data.get("chat_template") or ("none" if run_config.is_file() else "auto")
  # The date a template that writes one renders: config.chat_date, else the run's, else today.
  date = str(cfg.get("chat_date", "") or data.get("chat_date") or "")
  if cfg.get("chat_template", ""):  # set here: the system prompt is this config's too ("" = none)
    return make_codec(cfg.chat_template, cfg.get("system_prompt", ""), vocab, key="config", date=date)
  system = cfg.get("system_prompt", "") or data.get("system_prompt") or ""
  return make_codec(trained, system, vocab, key="config", date=date)


def keep_chat_date(cfg, samples_path: str) -> None:
  """An evaluation resumed on a later day renders the date it began with: config.chat_date "" takes the date in
  the header of the samples file being resumed (a template that writes the date), so its prompts stay the same."""
  if "chat_date" not in cfg or cfg.chat_date:
    return

  def read() -> str:
    path = io_paths.resolve(samples_path)
    if not path.exists():
      return ""
    with path.open() as f:  # the header is the first line: the samples after it are not read
      first = f.readline()
    try:
      chat = (json.loads(first).get("header") or {}).get("chat") or {}
    except json.JSONDecodeError:  # a damaged file is reported by read_samples
      return ""
    return str(chat.get("date") or "") if isinstance(chat, Mapping) else ""

  cfg.chat_date = hosts.share_json(read, f"reading {samples_path}")


def eval_positions(positions: str, position_range: int, ckpt: str) -> tuple[str, int]:
  """(mode, range) of the position ids to decode with: `config.positions` if set, else the trainer run's
  `data.positions` / `data.position_range` (WORKDIR/config.json), else contiguous. A model trained on randomized
  ids is decoded with ids drawn the same way (meta_rfft/data/positions.py)."""
  from meta_rfft.data import positions as positions_lib
  if not positions:
    data = run_data_section(ckpt)
    positions = data.get("positions") or "contiguous"
    position_range = position_range or int(data.get("position_range") or 0)
  positions_lib.check(positions, position_range, where="config")
  return positions, int(position_range)


def item_key(item: examples_lib.Item, seed: int) -> tuple[int, ...]:
  """The random-position key of one evaluated example: the same ids whatever batch it lands in."""
  return (int(seed), zlib.crc32(f"{item.fmt}/{item.task_id}".encode()), int(item.length), int(item.seed))


def sample_key(fmt: str, task_id: str, length: int, seed: int) -> str:
  """What identifies one evaluated sample, whatever batch it was decoded in."""
  return f"{fmt}/{task_id}/{int(length)}/{int(seed)}"


def _record_key(rec: Mapping[str, Any]) -> str:
  return sample_key(rec["format"], rec["task"], rec["length"], rec["seed"])


def read_samples(path: str, header: Mapping[str, Any] | None, repair: bool = True) -> list[dict]:
  """The samples already in `path`, each once (the first row of a sample wins); checks the file's header against
  this run's settings `header` (None: a reader of a finished evaluation, which checks none). `repair`: rewrite
  the file without torn or repeated lines (False: only read)."""
  if not io_paths.resolve(path).exists():
    return []
  lines = io_paths.read_text(path).split("\n")
  records, good, seen = [], [], set()
  for i, line in enumerate(lines):
    if not line.strip():
      continue
    try:
      rec = json.loads(line)
    except json.JSONDecodeError:
      if i >= len(lines) - 2:  # a torn final write: its sample is decoded again
        break
      raise ValueError(f"{path}: line {i + 1} is not JSON; the file is damaged (delete it to start over)")
    if i == 0:
      theirs = rec.get("header") or {}
      ours = theirs if header is None else json.loads(json.dumps(dict(header)))
      if theirs != ours:
        differ = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        raise ValueError(f"{path} was written with other settings than this run: "
                         + "; ".join(f"{k}: {theirs.get(k)!r} there, {ours.get(k)!r} now" for k in differ)
                         + f". Use another --workdir or delete {path}")
      good.append(line)
      continue
    key = _record_key(rec)
    if key in seen:  # a sample written twice (by an earlier, batch-keyed resume): counted once
      continue
    seen.add(key)
    good.append(line)
    records.append(rec)
  if repair and len(good) != sum(1 for ln in lines if ln.strip()):  # torn or repeated lines: rewritten without them
    io_paths.write_text(path, "\n".join(good) + "\n")
  return records


def check_prompts(path: str, records: Sequence[Mapping[str, Any]], items: Sequence[examples_lib.Item]) -> None:
  """Refuses a samples file whose stored prompt for one of `items` is not the item's prompt (the work list was
  built with other settings, e.g. other demonstrations), naming the file and the first such sample."""
  prompts = {sample_key(it.fmt, it.task_id, it.length, it.seed): it.inputs for it in items}
  for rec in records:
    key = _record_key(rec)
    if key in prompts and rec.get("prompt") != prompts[key]:
      raise ValueError(f"{path} holds sample {key} with another prompt than this run builds (settings that "
                       f"shape the prompts changed). Use another --workdir or delete {path}")


def _append(path: str, lines: list[str]) -> None:
  io_paths.append_lines(path, lines)  # an object store has no append: there it rewrites the file


def _score(batch: examples_lib.Batch, outputs: list[str], new_tokens: list[int], forwards: list[int]) -> list[dict]:
  rows = []
  for item, text, n, calls in zip(batch.items, outputs, new_tokens, forwards):
    parsed = extract_answer(text)
    rows.append({
        "batch": batch.id, "format": item.fmt, "task": item.task_id, "length": item.length, "seed": item.seed,
        "prompt": item.inputs, "output": text, "parsed": parsed, "reference": item.answer,
        "correct": parsed is not None and parsed == item.answer, "new_tokens": n, "forwards": calls,
        "ref_loops": item.ref_loops,
        "traced_loops": examples_lib.traced_loops(text) if item.ref_loops is not None else None,
    })
  return rows


@dataclasses.dataclass
class ModelSession:
  """One loaded model with the vocabulary and decoder it decodes with; reused for every list of samples it
  answers (a decoder compiles its programs once)."""
  vocab: Any
  decoder: GreedyDecoder
  label: str  # the decoding method with its settings, for reports
  codec: Any  # meta_rfft/data/example_codec.py: how prompts are rendered and where generation stops


def output_header(cfg, ckpt: str) -> dict:
  """Every setting that changes a sample's output for the model at `ckpt`. Batch size, buckets, mesh and decoding
  method only change how samples are grouped, laid out and computed (every decoding method gives the greedy
  tokens), so a resume may change them."""
  from meta_rfft.convert.sources import resolve
  pos_mode, pos_range = eval_positions(cfg.positions, int(cfg.position_range), ckpt)
  src = resolve(ckpt)
  chat = eval_codec(cfg, ckpt, eval_vocabulary(cfg.vocab, ckpt, src.hf_dir)).describe()
  header = {"checkpoint": src.params_dir, "seed": int(cfg.seed),
          "max_new_factor": float(cfg.max_new_factor), "max_new_extra": int(cfg.max_new_extra),
          "max_new_tokens": int(cfg.max_new_tokens), "positions": {"mode": pos_mode, "range": pos_range},
          "dtype": str(cfg.model.dtype), "param_dtype": str(cfg.model.param_dtype or "stored"),
          "vocab": str(cfg.vocab or "run")}
  if chat is not None:  # plain prompts keep the header they always had, so earlier evaluations resume
    header["chat"] = chat
  return header


def open_session(cfg, ckpt: str, *, model=None, mesh=None, rules=None) -> ModelSession:
  """Loads the model at `ckpt` (unless `model` is given) onto `mesh` (default: cfg.mesh over every process's
  devices) and builds its decoder from cfg's decoding keys."""
  from meta_rfft import distributed
  from meta_rfft.convert.sources import load_model, resolve
  from meta_rfft.sharding.rules import normalize_rules
  src = resolve(ckpt)
  if mesh is None:
    mesh = distributed.global_mesh_from_config(cfg.mesh)  # all processes' devices
    rules = normalize_rules(dict(cfg.sharding.rules))
  if model is None:
    run_options = {"dtype": cfg.model.dtype,
                   "scan_layers": decode_scan_layers(cfg.model.scan_layers, mesh.devices.flat)}
    if cfg.model.param_dtype:
      run_options["param_dtype"] = cfg.model.param_dtype
    model = load_model(src, mesh, rules, **run_options)
  vocab = eval_vocabulary(cfg.vocab, ckpt, src.hf_dir)
  codec = eval_codec(cfg, ckpt, vocab)
  method = str(cfg.decoding.method)
  decoder = GreedyDecoder(model, eos_ids=codec.stop_ids, pad_id=vocab.pad_id, batch_size=int(cfg.batch_size),
                          prompt_buckets=tuple(cfg.prompt_buckets), new_token_buckets=tuple(cfg.new_token_buckets),
                          mesh=mesh, rules=rules, method=method, draft_tokens=int(cfg.decoding.draft_tokens),
                          max_ngram=int(cfg.decoding.max_ngram))
  label = method if method == "greedy" else f"{method} (k={decoder.draft_tokens}, n<={decoder.max_ngram})"
  return ModelSession(vocab, decoder, label, codec)


def decode_samples(cfg, batches: Sequence[examples_lib.Batch], *, path: str, header: Mapping[str, Any],
                   session: Callable[[], ModelSession], on_checked: Callable[[], Any] | None = None,
                   label: str = "eval", score: Callable[..., list[dict]] = _score,
                   limit: Callable[[examples_lib.Item], int] | None = None) -> tuple[list[dict], str | None]:
  """Decodes and scores every item of `batches` that `path` (a samples.jsonl) does not hold yet, appending each
  finished batch; returns (the records of every item, each once; the decoding label, None if nothing was
  decoded). `header`: the settings `path` must have been written with (output_header, plus whatever else
  fixes the prompts). `session`: called (once) only if something is left to decode. Call on every process.
  `score`: (batch, outputs, new_tokens, forwards) -> one row per item, as `_score` (the rule tasks' scorer).
  `limit`: an item's generation limit (default: from its reference output's length and cfg.max_new_*); either
  way capped by the model's room."""
  from meta_rfft.data import positions as positions_lib
  from meta_rfft.data.vocab import encode_texts
  leader = hosts.is_leader()
  records: list[dict] = []
  keys = [sample_key(it.fmt, it.task_id, it.length, it.seed) for b in batches for it in b.items]

  def read_finished():
    io_paths.resolve(os.path.dirname(path)).mkdir(parents=True, exist_ok=True)
    records.extend(read_samples(path, header))
    check_prompts(path, records, [it for b in batches for it in b.items])
    if not io_paths.resolve(path).exists():
      _append(path, [json.dumps({"header": header})])
    have = {_record_key(r) for r in records}
    return [key in have for key in keys]

  # Process 0's file decides; every process must skip exactly the same samples.
  finished = hosts.finished_mask(read_finished, len(keys), f"reading {path}")
  if on_checked is not None:
    hosts.on_leader(on_checked, f"writing beside {path}")
  todo, i = [], 0
  for b in batches:
    missing = tuple(it for it, done in zip(b.items, finished[i:i + len(b.items)]) if not done)
    i += len(b.items)
    if missing:
      todo.append(b if len(missing) == len(b.items) else examples_lib.Batch(b.id, missing))
  # Only process 0 reports progress (the others decode the same batches in step with it).
  progress = Progress(len(keys), done=int(finished.sum()), label=label) if leader else None
  if finished.any() and leader:
    print(f"{label}: resuming, {int(finished.sum())} of {len(keys)} samples already in {path}", flush=True)
  if not todo:
    return _kept(records, keys), None
  s = session()
  decoder, vocab = s.decoder, s.vocab
  pos_mode, pos_range = header["positions"]["mode"], int(header["positions"]["range"])
  if leader:
    print(f"{label}: decoding with {s.label}", flush=True)
  for batch in todo:
    prompts = s.codec.batch_prompt_ids([it.inputs for it in batch.items])
    if limit is None:
      ref_lens = [len(ids) + 1 for ids in encode_texts(vocab, [it.targets for it in batch.items])]
      wanted = [min(int(cfg.max_new_factor * n) + int(cfg.max_new_extra), int(cfg.max_new_tokens)) for n in ref_lens]
    else:
      wanted = [int(limit(it)) for it in batch.items]
    room = decoder.room_for(max(len(p) for p in prompts))
    limits = [max(1, min(n, room)) for n in wanted]
    positions = None
    if pos_mode != "contiguous":
      positions = [positions_lib.sequence_positions(pos_mode, len(p) + n, pos_range, item_key(it, int(cfg.seed)))
                   for p, n, it in zip(prompts, limits, batch.items)]
    outs = decoder.decode_batch(prompts, limits, positions)
    texts = [vocab.decode(strip_eos(o, decoder.eos_ids)) for o in outs]
    rows = score(batch, texts, [len(o) for o in outs], decoder.last_forwards)
    # Checked on every process before the next batch: a failed write on process 0 stops all of them here.
    hosts.on_leader(lambda rows=rows: _append(path, [json.dumps(r) for r in rows]), f"appending to {path}")
    records.extend(rows)
    acc = sum(r["correct"] for r in rows) / len(rows)
    if progress is not None:
      progress.update(len(rows), note=f"{batch.id} acc {100 * acc:.0f}%")
  return _kept(records, keys), s.label


def _kept(records: list[dict], keys: Sequence[str]) -> list[dict]:
  """The records of this work list (a samples.jsonl may hold more, from a run over more lengths or tasks)."""
  wanted = set(keys)  # records hold each sample once: read_samples drops repeats, the work list only missing ones
  return [r for r in records if _record_key(r) in wanted]


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
  header = output_header(cfg, ckpt)
  eval_dir = os.fspath(eval_layout.root)
  fmts = examples_lib.parse_formats(cfg.formats)
  examples_lib.load_user_tasks(cfg.get("user_tasks", ""), run_data_section(ckpt))
  tasks = examples_lib.select_tasks(cfg.tasks)
  lengths = examples_lib.lengths_of(cfg.lengths)
  train_lengths = examples_lib.lengths_of(cfg.train_lengths) if cfg.train_lengths else []
  batches = examples_lib.make_batches(fmts, tasks, lengths, int(cfg.samples_per_length), int(cfg.batch_size),
                                      int(cfg.seed))
  kept, decoding = decode_samples(
      cfg, batches, path=os.fspath(eval_layout.samples), header=header, on_checked=on_checked,
      session=lambda: open_session(cfg, ckpt, model=model, mesh=mesh, rules=rules))
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
