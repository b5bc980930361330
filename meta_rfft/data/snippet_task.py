"""seqio registration of the one-shot synthetic set, and the RF-pretraining mixture that includes it.

Names:
  meta_rfft.synthetic.rf_1shot                     the synthetic set (always the rf_1shot format)
  meta_rfft.rf_pretrain_with_synthetic.{fmt}       meta_rfft.rf_pretrain.{fmt} (as a sub-mixture, its own
                                                   per-task rates kept) + the synthetic set

The plain `meta_rfft.rf_pretrain.{fmt}` mixture (seqio_tasks.py) is left as it is: its registration has no
hook for data that is not a registered rule task, so the synthetic set comes as a separate mixture.
Mixing rate: the synthetic set weighs as many examples as it has in the train split (100k by default,
beside ~310k RF-pretraining examples, as in the paper), unless `data.synthetic_rate` is set; the
RF-pretraining sub-mixture weighs its total rate (its number of train examples by default).

Use: train with `data.mixture = "meta_rfft.rf_pretrain_with_synthetic.rf_1shot"` (or `.rf`); the batch
iterator (pipeline.make_batch_iterator) calls `maybe_register`, which builds and registers all this only
when `data.mixture` asks for the synthetic set, so other runs never build it. Optional settings:
`data.synthetic` (snippet_tfds.py) and `data.synthetic_rate`.
"""
from __future__ import annotations

import functools
from typing import Any, Mapping

import seqio
import tensorflow as tf

from meta_rfft.data import seqio_tasks, snippet_tfds, tfds_build

SYNTHETIC_TASK = f"{seqio_tasks.PREFIX}.synthetic.{snippet_tfds.FMT}"
PASSTHROUGH = ("task", "length", "seed", "answer")


def with_synthetic_mixture(fmt: str) -> str:
  return f"{seqio_tasks.PREFIX}.rf_pretrain_with_synthetic.{fmt}"


def _select_and_tokenize(dataset: tf.data.Dataset, codec) -> tf.data.Dataset:
  fmt = snippet_tfds.FMT
  return tfds_build.select_and_tokenize(
      dataset, lambda ex: codec.encode_tf(ex[f"{fmt}_inputs"], ex[f"{fmt}_targets"]), PASSTHROUGH)


def _rate(data_cfg: Mapping[str, Any], default: float) -> float:
  value = data_cfg.get("synthetic_rate", None)
  if value is None or value == "":
    return default
  try:
    rate = float(value)
  except (TypeError, ValueError):
    raise ValueError(f"data.synthetic_rate: expected a number, got {value!r}") from None
  if rate < 0:
    raise ValueError(f"data.synthetic_rate must be >= 0, got {rate}")
  return rate


def register(data_cfg: Mapping[str, Any], vocab: seqio.Vocabulary,
             reg: seqio_tasks.Registration) -> tuple[str, ...]:
  """Builds the synthetic set if needed; registers its Task and the with-synthetic mixtures. Returns names."""
  settings, path = snippet_tfds.ensure_built(data_cfg)
  counts = dict(settings.counts)
  features = {k: seqio.Feature(vocabulary=vocab, add_eos=False, dtype=tf.int32)
              for k in ("inputs", "targets")}
  if SYNTHETIC_TASK in seqio.TaskRegistry.names():
    seqio.TaskRegistry.remove(SYNTHETIC_TASK)
  seqio.TaskRegistry.add(
      SYNTHETIC_TASK,
      source=seqio.FunctionDataSource(functools.partial(snippet_tfds.read_split, str(path)),
                                      splits=list(counts), num_input_examples=counts,
                                      caching_permitted=False),
      preprocessors=[functools.partial(_select_and_tokenize, codec=reg.codec)],
      output_features=features, shuffle_buffer_size=int(data_cfg["shuffle_buffer"]))
  rate = _rate(data_cfg, float(counts.get("train", next(iter(counts.values())))))
  names = [SYNTHETIC_TASK]
  for base in reg.mixtures:
    fmt = base.rsplit(".", 1)[1]
    if base != seqio_tasks.rf_pretrain_mixture(fmt):
      continue
    name = with_synthetic_mixture(fmt)
    if name in seqio.MixtureRegistry.names():
      seqio.MixtureRegistry.remove(name)
    total = seqio.get_mixture_or_task(base).total_rate
    seqio.MixtureRegistry.add(name, [(base, total), (SYNTHETIC_TASK, rate)])
    names.append(name)
  return tuple(names)


def maybe_register(data_cfg: Mapping[str, Any], vocab: seqio.Vocabulary,
                   reg: seqio_tasks.Registration) -> tuple[str, ...]:
  """`register`, if `data.mixture` names the synthetic set or a with-synthetic mixture; else nothing."""
  mixture = str(data_cfg["mixture"]).strip()
  if mixture == SYNTHETIC_TASK or mixture.startswith(with_synthetic_mixture("")):
    return register(data_cfg, vocab, reg)
  return ()
