"""TFDS builder of the Meta-RFFT rule-following data: one split per (task, split), examples pre-rendered.

Split names are `<task_id>__<split>` (split = train, validation, test). The builder config is the resolved
build settings (meta_rfft.data.materialize.BuildSettings); its name is a digest of them, so a different
setting builds a new dataset beside the old one and an existing build is reused as is. The examples are
rendered by `meta_rfft.data.materialize.generate`; TFDS stores them in a shuffled (key-hash) order.

Normally built through `meta_rfft.data.tfds_data.ensure_built(data_cfg)`; this module is data (it lives in
`data/`), loaded by path.
"""
import os

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from meta_rfft.data import materialize


class MetaRfftConfig(tfds.core.BuilderConfig):

  def __init__(self, settings: materialize.BuildSettings, pool=None):
    super().__init__(name=settings.name, version="1.0.0",
                     description=f"{len(settings.parts)} (task, split) parts, seed {settings.seed}")
    self.settings = settings
    self.pool = pool  # optional process pool rendering examples in parallel (materialize.worker_pool)


class MetaRfftTfds(tfds.core.GeneratorBasedBuilder):
  """Rendered rule-following examples of every task, split and format."""

  VERSION = tfds.core.Version("1.0.0")
  # This module is loaded by path, outside any package: tell TFDS where its (optional) metadata files live.
  pkg_dir_path = epath.Path(os.path.dirname(os.path.abspath(__file__)))

  def _info(self) -> tfds.core.DatasetInfo:
    features = {
        "task": tfds.features.Text(), "length": tfds.features.Scalar(dtype=np.int32),
        "seed": tfds.features.Scalar(dtype=np.int64), "instance": tfds.features.Text(),
        "answer": tfds.features.Text(),
    }
    for fmt in self.builder_config.settings.formats:
      features[f"{fmt}_inputs"] = tfds.features.Text()
      features[f"{fmt}_targets"] = tfds.features.Text()
    return self.dataset_info_from_configs(features=tfds.features.FeaturesDict(features))

  def _split_generators(self, dl_manager):
    settings = self.builder_config.settings
    return {part.tfds_split: self._generate_examples(part) for part in settings.parts}

  def _generate_examples(self, part):
    yield from materialize.generate(self.builder_config.settings, part, self.builder_config.pool)
