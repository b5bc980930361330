"""seqio Tasks and Mixtures over the built TFDS data.

Names (stable; `{fmt}` is rf, rf_1shot, scratchpad or direct; splits inside each are train/validation/test):
  meta_rfft.{task_id}.{fmt}              one Task per task x format, e.g. meta_rfft.lc_258.rf
  meta_rfft.rf_pretrain.{fmt}            Mixture of every RF-pretraining task built in that format
  meta_rfft.heldout.{fmt}                Mixture of every held-out task (multi-task baselines)
  meta_rfft.adapt.{task_id}.{fmt}        the adaptation Mixture of one held-out task (its train split holds
                                         the lengths 1-5 adaptation data)
  meta_rfft.mix.{digest}.{fmt}           ad hoc Mixture of a comma-separated task list (data.mixture)

Each Task yields `inputs`, `targets` (token ids through `data.chat_template`'s codec, example_codec.py: plain,
without BOS/EOS, which the batch conversion adds; or a chat template's complete ids), and `task`, `length`,
`seed`, `answer` (the texts: `pipeline.iterate_examples`).
Mixing rates default to the number of examples each task has in the train split (or, for tasks without
one, in the first split they have: `default_rate`), at most `data.mixing_cap` when that is set (T5's
examples-proportional mixing); `data.mixing_rates` overrides them per task. `data.extra` files join whatever
mixture this names (general_task.py).

`register(data_cfg, vocab)` builds the data if needed and (re-)registers everything for that vocabulary and
data dir; `mixture_name(data_cfg)` turns `data.mixture` + `data.format` into the name to read.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
from typing import Any, Mapping

import seqio
import tensorflow as tf

from meta_rfft.data import example_codec, general_jsonl, materialize, tfds_build, tfds_data
from meta_rfft.tasks import registry

PREFIX = "meta_rfft"
PASSTHROUGH = ("task", "length", "seed", "answer")


def task_name(task_id: str, fmt: str) -> str:
  return f"{PREFIX}.{task_id}.{fmt}"


def rf_pretrain_mixture(fmt: str) -> str:
  return f"{PREFIX}.rf_pretrain.{fmt}"


def heldout_mixture(fmt: str) -> str:
  return f"{PREFIX}.heldout.{fmt}"


def adapt_mixture(task_id: str, fmt: str) -> str:
  return f"{PREFIX}.adapt.{task_id}.{fmt}"


@dataclasses.dataclass(frozen=True)
class Registration:
  path: Any  # the built TFDS dir: pathlib.Path, or epath.Path for a gs:// data_dir
  settings: materialize.BuildSettings
  vocab: seqio.Vocabulary
  codec: Any  # example_codec.PlainCodec or ChatCodec: how every registered task tokenises
  tasks: tuple[str, ...]  # registered seqio task names
  mixtures: tuple[str, ...]


def parse_rates(value: Any) -> dict[str, float]:
  """`data.mixing_rates`: "lc_258=2,nupa_add_integer=0.5" or a mapping; errors name the entry."""
  if not value:
    return {}
  items = value.items() if hasattr(value, "items") else (
      part.split("=", 1) if "=" in part else (part, None) for part in str(value).split(",") if part.strip())
  rates = {}
  for key, rate in items:
    key = key.strip()
    registry.get_task(key)  # unknown ids fail here, with the nearest names
    rates[key] = general_jsonl.parse_rate(rate, f"data.mixing_rates: task {key!r}")
  return rates


def mixing_cap(data_cfg: Mapping[str, Any]) -> float:
  """`data.mixing_cap`: the most examples a task's default rate counts (0 = no cap)."""
  value = data_cfg.get("mixing_cap", 0) or 0
  return 0.0 if not float(value) else general_jsonl.parse_rate(value, "data.mixing_cap (0 = no cap)")


def capped(rate: float, cap: float) -> float:
  """T5's examples-proportional mixing with a cap: a task weighs its examples, at most `cap` (0 = no cap)."""
  return min(rate, cap) if cap else rate


def default_rate(parts: Mapping[str, materialize.Part]) -> float:
  """A task's mixing rate unless `data.mixing_rates` sets one: its number of train examples, so that a mixture
  samples every example about equally often; a task without a train split counts its first split's."""
  part = parts["train"] if "train" in parts else next(iter(parts.values()))
  return float(part.num_examples)


def _select_and_tokenize(dataset: tf.data.Dataset, fmt: str, codec) -> tf.data.Dataset:
  """The format's texts through the run's codec (plain or chat template)."""
  return tfds_build.select_and_tokenize(
      dataset, lambda ex: codec.encode_tf(ex[f"{fmt}_inputs"], ex[f"{fmt}_targets"]), PASSTHROUGH)


def _read(path: str, task_id: str, fmt: str, split: str, shuffle_files: bool, seed: int | None = None):
  # One file per split: file order needs no shuffling; examples are stored in a shuffled order.
  del shuffle_files, seed
  fields = (f"{fmt}_inputs", f"{fmt}_targets") + PASSTHROUGH
  return tfds_data.read_fields(path, task_id, split, fields)  # a str: pathlib would mangle gs://


def _add_task(name: str, **kwargs) -> None:
  if name in seqio.TaskRegistry.names():
    seqio.TaskRegistry.remove(name)
  seqio.TaskRegistry.add(name, **kwargs)


def _add_mixture(name: str, tasks: list[tuple[str, float]]) -> None:
  if name in seqio.MixtureRegistry.names():
    seqio.MixtureRegistry.remove(name)
  seqio.MixtureRegistry.add(name, tasks)


def register(data_cfg: Mapping[str, Any], vocab: seqio.Vocabulary) -> Registration:
  """Builds the TFDS data of `data_cfg.build` if needed, then registers the Tasks and Mixtures above."""
  settings, path = tfds_data.ensure_built(data_cfg)
  codec = example_codec.codec_of(data_cfg, vocab)
  overrides = parse_rates(data_cfg["mixing_rates"])
  cap = mixing_cap(data_cfg)
  features = {k: seqio.Feature(vocabulary=vocab, add_eos=False, dtype=tf.int32)
              for k in ("inputs", "targets")}
  names, rates = [], {}
  for task_id, fmts in sorted(settings.task_formats.items()):
    parts = settings.parts_of(task_id)
    if not parts:
      continue
    counts = {s: p.num_examples for s, p in parts.items()}
    rates[task_id] = overrides.get(task_id, capped(default_rate(parts), cap))
    for fmt in fmts:
      name = task_name(task_id, fmt)
      _add_task(
          name,
          source=seqio.FunctionDataSource(functools.partial(_read, str(path), task_id, fmt),
                                          splits=list(parts), num_input_examples=counts,
                                          caching_permitted=False),
          # Token ids only, no text copies: every task's shuffle buffer is part of the iterator checkpoint.
          preprocessors=[functools.partial(_select_and_tokenize, fmt=fmt, codec=codec)],
          output_features=features, shuffle_buffer_size=int(data_cfg["shuffle_buffer"]))
      names.append((task_id, fmt, name))
  mixtures = []
  all_fmts = {fmt for _, fmt, _ in names}
  for fmt in sorted(all_fmts):
    for split, mixture in (("rf_pretrain", rf_pretrain_mixture(fmt)), ("heldout", heldout_mixture(fmt))):
      members = [(n, rates[t]) for t, f, n in names if f == fmt and registry.get_task(t).split == split]
      if members:
        _add_mixture(mixture, members)
        mixtures.append(mixture)
    for t, f, n in names:
      if f == fmt and registry.get_task(t).split == "heldout":
        _add_mixture(adapt_mixture(t, fmt), [(n, rates[t])])
        mixtures.append(adapt_mixture(t, fmt))
  return Registration(path=path, settings=settings, vocab=vocab, codec=codec, tasks=tuple(n for _, _, n in names),
                      mixtures=tuple(mixtures))


def mixture_name(data_cfg: Mapping[str, Any], reg: Registration) -> str:
  """The seqio Task/Mixture that `data.mixture` and `data.format` name (registering ad hoc mixtures)."""
  fmt, mixture = str(data_cfg["format"]), str(data_cfg["mixture"]).strip()
  if mixture.startswith(PREFIX + "."):
    name = mixture
  elif mixture == "rf_pretrain":
    name = rf_pretrain_mixture(fmt)
  elif mixture == "heldout":
    name = heldout_mixture(fmt)
  else:
    ids = [i.strip() for i in mixture.split(",") if i.strip()]
    for i in ids:
      registry.get_task(i)
    if len(ids) == 1:
      name = task_name(ids[0], fmt)
    else:
      overrides = parse_rates(data_cfg["mixing_rates"])
      members = []
      for i in ids:
        if task_name(i, fmt) not in reg.tasks:
          raise ValueError(f"data.mixture: task {i!r} has no built {fmt!r} data (data.build.tasks / formats)")
        members.append((task_name(i, fmt), overrides.get(i, capped(default_rate(reg.settings.parts_of(i)),
                                                                   mixing_cap(data_cfg)))))
      name = f"{PREFIX}.mix.{hashlib.sha1(repr(members).encode()).hexdigest()[:10]}.{fmt}"
      _add_mixture(name, members)
      return name
  if name not in reg.tasks and name not in reg.mixtures and name not in seqio.MixtureRegistry.names():
    raise ValueError(f"data.mixture={mixture!r} with data.format={fmt!r} gives {name!r}, which is not "
                     f"registered for the built data; registered mixtures: {', '.join(reg.mixtures)}")
  return name
