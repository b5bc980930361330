"""General data mixed into the rule-task mixture: `data.extra` files as seqio Tasks, and the mixture holding both.

Names:
  meta_rfft.extra.{name}                   one Task per file (general_jsonl.task_name), splits train/validation
  meta_rfft.with_extra.{digest}.{base}     the mixture `data.mixture` names (as a sub-mixture, its own rates kept)
                                           plus every extra Task
Rates: a file's `=RATE` if given, else its number of train examples capped by `data.mixing_cap` (T5's
examples-proportional mixing; the rule tasks' default rates take the same cap: seqio_tasks.py). The base mixture
weighs its total rate, so with default rates every example of every source is drawn about equally often.

Each example is tokenised through the run's codec (example_codec.py): with a chat template its context messages
are rendered as the model's chat and the loss covers the answer's assistant turn; plain prompts can only carry a
single user turn, so a file with a system message or several turns is refused there, naming its first such line.
"""
from __future__ import annotations

import functools
import hashlib
import json
from typing import Any, Mapping

import seqio
import tensorflow as tf

from meta_rfft.data import example_codec, general_jsonl, general_tfds, seqio_tasks, tfds_build

PASSTHROUGH = ("task", "length", "seed", "answer")


def extra_task_name(name: str) -> str:
  return f"{seqio_tasks.PREFIX}.extra.{name}"


def _select_and_tokenize(dataset: tf.data.Dataset, codec) -> tf.data.Dataset:
  if isinstance(codec, example_codec.ChatCodec):  # the context's messages through the chat template
    encode = lambda ex: codec.encode_chat_tf(ex["context"], ex["response"])  # noqa: E731
  else:
    encode = lambda ex: codec.encode_tf(ex["prompt"], ex["response"])  # noqa: E731
  return tfds_build.select_and_tokenize(dataset, encode, PASSTHROUGH)


def _read(path: str, split: str, shuffle_files: bool, seed: int | None = None):
  del shuffle_files, seed  # stored in a shuffled order; an unshuffled read keeps streams exactly resumable
  return general_tfds.read_split(path, split)


def check_records(entry: general_jsonl.Entry, codec, records: list[general_jsonl.Record]) -> None:
  """Renders every line as training will, so that a line the codec cannot carry is named here, by file and line,
  before anything is built, not inside the data pipeline mid-run."""
  for r in records:
    where = f"{entry.path}:{r.line}" + (f" (assistant turn {r.turn + 1})" if r.turn else "")
    if codec.mode == "none":
      if not r.single_turn:
        raise ValueError(f"{where}: a chat with a system message or several turns needs a chat template to be "
                         "rendered (data.chat_template='hf' with a tokenizer that has one)")
      continue
    try:
      codec.chat_ids(json.loads(r.context_json()), r.response)
    except ValueError as e:
      raise ValueError(f"{where}: {e}") from None


def register(data_cfg: Mapping[str, Any], vocab: seqio.Vocabulary, codec) -> list[tuple[str, float, str]]:
  """Builds (if needed) and registers every `data.extra` file's Task; returns (task name, rate, dataset name: a
  digest of the file's content and build settings) triples."""
  cap = seqio_tasks.mixing_cap(data_cfg)
  features = {k: seqio.Feature(vocabulary=vocab, add_eos=False, dtype=tf.int32) for k in ("inputs", "targets")}
  members = []
  for entry in general_jsonl.parse_entries(data_cfg.get("extra", "")):
    built = general_tfds.ensure_built(entry, data_cfg, check=functools.partial(check_records, entry, codec))
    name = extra_task_name(entry.name)
    if name in seqio.TaskRegistry.names():
      seqio.TaskRegistry.remove(name)
    seqio.TaskRegistry.add(
        name, source=seqio.FunctionDataSource(functools.partial(_read, str(built.path)), splits=list(built.counts),
                                              num_input_examples=built.counts, caching_permitted=False),
        preprocessors=[functools.partial(_select_and_tokenize, codec=codec)], output_features=features,
        shuffle_buffer_size=int(data_cfg["shuffle_buffer"]))
    default = float(built.counts.get("train", next(iter(built.counts.values()))))
    members.append((name, entry.rate if entry.rate is not None else seqio_tasks.capped(default, cap),
                    built.settings.name))
  return members


def with_extra(data_cfg: Mapping[str, Any], vocab: seqio.Vocabulary, reg: seqio_tasks.Registration,
               base: str) -> str:
  """`base` (the Task or Mixture `data.mixture` names) with the `data.extra` files mixed in; `base` itself when
  there are none."""
  members = register(data_cfg, vocab, reg.codec)
  if not members:
    return base
  provider = seqio.get_mixture_or_task(base)
  if isinstance(provider, seqio.Mixture):
    base_rate = provider.total_rate
  else:  # one task (an adaptation): it weighs what it would weigh in a mixture
    task_id = base[len(seqio_tasks.PREFIX) + 1:].rsplit(".", 1)[0]
    overrides = seqio_tasks.parse_rates(data_cfg["mixing_rates"]) if task_id in reg.settings.task_formats else {}
    base_rate = overrides.get(task_id, seqio_tasks.capped(float(provider.num_input_examples("train") or 1),
                                                          seqio_tasks.mixing_cap(data_cfg)))
  tasks = [(base, base_rate)] + [(name, rate) for name, rate, _ in members]
  # The files' contents are part of the name: it is the stream's identity in a saved iterator state, so an edited
  # file never resumes the stream of the file it replaced.
  digest = hashlib.sha1(repr((tasks, [dataset for *_, dataset in members])).encode()).hexdigest()[:10]
  name = f"{seqio_tasks.PREFIX}.with_extra.{digest}.{base[len(seqio_tasks.PREFIX) + 1:]}"
  if name in seqio.MixtureRegistry.names():
    seqio.MixtureRegistry.remove(name)
  seqio.MixtureRegistry.add(name, tasks)
  return name
