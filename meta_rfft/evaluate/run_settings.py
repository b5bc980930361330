"""How an evaluation takes the settings of the training run that wrote its checkpoint (its run record:
meta_rfft/data/run_record.py), unless its own config sets them: the vocabulary, how prompts are rendered (chat
template, system prompt, date) and the position ids to decode with."""
from __future__ import annotations

import json
from typing import Mapping

from meta_rfft import io_paths
from meta_rfft.data import positions as positions_lib
from meta_rfft.data import run_record
from meta_rfft.data.example_codec import make_codec
from meta_rfft.data.vocab import make_vocabulary
from meta_rfft.evaluate import hosts


def record_of(ckpt: str) -> run_record.RunRecord | None:
  """The run record of the trainer run that wrote `ckpt` (None for a converted checkpoint)."""
  return run_record.read(ckpt)


def eval_vocabulary(vocab_spec: str, ckpt: str, hf_dir: str):
  """The vocabulary the model was trained with: `config.vocab` if set, else the trainer run's `data.vocab`
  (its run record), else the checkpoint's tokenizer.json. `ckpt`, `hf_dir`: local folders or URLs."""
  if vocab_spec:
    return make_vocabulary(vocab_spec)
  record = record_of(ckpt)
  if record is not None and record.vocab:
    return make_vocabulary(record.vocab)
  if (io_paths.resolve(hf_dir) / "tokenizer.json").is_file():
    return make_vocabulary(hf_dir)
  raise ValueError(f"config.vocab is empty and neither the run record of {ckpt} (data.vocab) nor "
                   f"{hf_dir}/tokenizer.json names the vocabulary; set --config.vocab=char or a "
                   f"tokenizer.json path")


def eval_codec(cfg, ckpt: str, vocab):
  """How prompts become tokens and where generation stops (meta_rfft/data/example_codec.py): config.chat_template
  with config.system_prompt if set, else as the trainer run that wrote `ckpt` trained (its run record;
  config.system_prompt may still replace its system prompt), else "auto"."""
  record = record_of(ckpt)
  trained = record.chat_template if record is not None else "auto"
  # The date a template that writes one renders: config.chat_date, else the run's, else today.
  date = str(cfg.get("chat_date", "") or (record.chat_date if record is not None else "") or "")
  if cfg.get("chat_template", ""):  # set here: the system prompt is this config's too ("" = none)
    return make_codec(cfg.chat_template, cfg.get("system_prompt", ""), vocab, key="config", date=date)
  system = cfg.get("system_prompt", "") or (record.system_prompt if record is not None else "")
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
    except json.JSONDecodeError:  # a damaged file is reported by samples.read_samples
      return ""
    return str(chat.get("date") or "") if isinstance(chat, Mapping) else ""

  cfg.chat_date = hosts.share_json(read, f"reading {samples_path}")


def eval_positions(positions: str, position_range: int, ckpt: str) -> tuple[str, int]:
  """(mode, range) of the position ids to decode with: `config.positions` if set, else the trainer run's (its run
  record), else contiguous. A model trained on randomized ids is decoded with ids drawn the same way
  (meta_rfft/data/positions.py)."""
  if not positions:
    record = record_of(ckpt)
    positions = record.positions if record is not None else "contiguous"
    position_range = position_range or (record.position_range if record is not None else 0)
  positions_lib.check(positions, position_range, where="config")
  return positions, int(position_range)


def user_tasks_of(ckpt: str) -> str:
  """The task modules the trainer run that wrote `ckpt` used ("" for a converted checkpoint)."""
  record = record_of(ckpt)
  return record.user_tasks if record is not None else ""
