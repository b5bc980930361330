"""One loaded model with the vocabulary, prompt rendering and decoder it answers with, and the header of the
settings that change its outputs (samples.jsonl's first line)."""
from __future__ import annotations

import dataclasses
from typing import Any

from meta_rfft import distributed
from meta_rfft.convert.sources import load_model, resolve
from meta_rfft.evaluate.config import decode_scan_layers
from meta_rfft.evaluate.decode import GreedyDecoder
from meta_rfft.evaluate.run_settings import eval_codec, eval_positions, eval_vocabulary
from meta_rfft.model.config import run_options
from meta_rfft.sharding.rules import normalize_rules


@dataclasses.dataclass
class ModelSession:
  """One loaded model with the vocabulary and decoder it decodes with; reused for every list of samples it
  answers (a decoder compiles its programs once)."""
  vocab: Any
  decoder: GreedyDecoder
  label: str  # the decoding method with its settings, for reports
  codec: Any  # meta_rfft/data/example_codec.py: how prompts are rendered and where generation stops


def output_header(cfg, ckpt: str, answer: dict | None = None) -> dict:
  """Every setting that changes a sample's output for the model at `ckpt` (`answer`: how answers are read and
  where decoding stops, examples.answer_settings). Batch size, buckets, mesh and decoding method only change how
  samples are grouped, laid out and computed (every decoding method gives the greedy tokens), so a resume may
  change them."""
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
  if answer is not None:
    header["answer"] = answer
  return header


def open_session(cfg, ckpt: str, *, model=None, mesh=None, rules=None, stop_texts=()) -> ModelSession:
  """Loads the model at `ckpt` (unless `model` is given) onto `mesh` (default: cfg.mesh over every process's
  devices) and builds its decoder from cfg's decoding keys; decoding also stops where an output ends with one
  of `stop_texts` (as tokenized alone: stop_sequences)."""
  src = resolve(ckpt)
  if mesh is None:
    mesh = distributed.global_mesh_from_config(cfg.mesh)  # all processes' devices
    rules = normalize_rules(dict(cfg.sharding.rules))
  if model is None:
    opts = run_options(cfg.model, scan_layers=decode_scan_layers(cfg.model.scan_layers, mesh.devices.flat),
                       platform=mesh.devices.flat[0].platform,
                       param_dtype=cfg.model.param_dtype or src.dtype or "float32")  # "": as stored
    model = load_model(src, mesh, rules, **dataclasses.asdict(opts))
  vocab = eval_vocabulary(cfg.vocab, ckpt, src.hf_dir)
  codec = eval_codec(cfg, ckpt, vocab)
  method = str(cfg.decoding.method)
  decoder = GreedyDecoder(model, eos_ids=codec.stop_ids, pad_id=vocab.pad_id, batch_size=int(cfg.batch_size),
                          prompt_buckets=tuple(cfg.prompt_buckets), new_token_buckets=tuple(cfg.new_token_buckets),
                          mesh=mesh, rules=rules, method=method, draft_tokens=int(cfg.decoding.draft_tokens),
                          max_ngram=int(cfg.decoding.max_ngram), stop_sequences=stop_sequences(vocab, stop_texts))
  label = method if method == "greedy" else f"{method} (k={decoder.draft_tokens}, n<={decoder.max_ngram})"
  return ModelSession(vocab, decoder, label, codec)


def stop_sequences(vocab, texts) -> list[list[int]]:
  """The token ids of each stop text, where they decode back to it. A model writing the text in its usual
  tokenization then stops there; the scorer cuts the output at the text anyway, so a text whose tokens depend on
  its context (no round trip) only costs the tokens decoded past it."""
  out = []
  for text in texts:
    ids = list(vocab.encode(text))
    if ids and vocab.decode(ids) == text:
      out.append(ids)
  return out
