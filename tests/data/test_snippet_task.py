"""The synthetic set's TFDS build and seqio Task, and the RF-pretraining mixture that includes it."""
import copy

import pytest
import seqio

from meta_rfft.data import pipeline, seqio_tasks, snippet_task, snippet_tfds
from meta_rfft.data import vocab as vocab_lib
from meta_rfft.tasks import snippet_tasks

MIXTURE = "meta_rfft.rf_pretrain_with_synthetic.rf_1shot"


@pytest.fixture(scope="module")
def setup(data_cfg):
  cfg = copy.deepcopy(data_cfg)
  cfg.synthetic = {"num_train": 10, "num_validation": 3, "lengths": "1-3", "seed": 1}
  cfg.mixture = MIXTURE
  vocab = vocab_lib.CharVocabulary()
  reg = seqio_tasks.register(cfg, vocab)
  names = snippet_task.maybe_register(cfg, vocab, reg)
  return cfg, vocab, reg, names


def _texts(dataset, vocab, key):
  return [vocab.decode(list(ex[key])) for ex in dataset.as_numpy_iterator()]


def test_task_holds_the_rendered_synthetic_examples(setup):
  cfg, vocab, _, names = setup
  # One with-synthetic mixture per format the RF-pretraining mixture is built in (rf and rf_1shot here).
  assert names == (snippet_task.SYNTHETIC_TASK, "meta_rfft.rf_pretrain_with_synthetic.rf", MIXTURE)
  task = seqio.get_mixture_or_task(snippet_task.SYNTHETIC_TASK)
  ds = task.get_dataset(sequence_length=None, split="train", shuffle=False, num_epochs=1)
  rows = list(ds.as_numpy_iterator())
  assert len(rows) == 10
  by_seed = {int(r["seed"]): r for r in rows}
  assert sorted(by_seed) == [10_000_000 + k for k in range(10)]
  for k in (0, 4, 9):
    row = by_seed[10_000_000 + k]
    expected = snippet_tasks.make_example(1 + k % 3, 10_000_000 + k)
    assert vocab.decode(list(row["inputs"])) == expected.inputs
    assert vocab.decode(list(row["targets"])) == expected.targets
    assert row["answer"].decode() == expected.answer and row["task"] == b"synthetic"
  val = task.get_dataset(sequence_length=None, split="validation", shuffle=False, num_epochs=1)
  assert sorted(int(r["seed"]) for r in val.as_numpy_iterator()) == [14_000_000 + k for k in range(3)]


def test_mixture_keeps_rf_pretrain_rates_and_adds_the_synthetic_set(setup):
  cfg, vocab, reg, _ = setup
  assert seqio_tasks.mixture_name(cfg, reg) == MIXTURE
  mix = seqio.get_mixture_or_task(MIXTURE)
  base = seqio.get_mixture_or_task(seqio_tasks.rf_pretrain_mixture("rf_1shot"))
  assert {t.name for t in mix.tasks} == {t.name for t in base.tasks} | {snippet_task.SYNTHETIC_TASK}
  for t in base.tasks:
    assert mix.get_rate(t) == pytest.approx(base.get_rate(t))
  assert mix.get_rate(seqio.get_mixture_or_task(snippet_task.SYNTHETIC_TASK)) == 10
  ds = mix.get_dataset(sequence_length=None, split="train", shuffle=True, seed=0,
                       passthrough_features=["task"])
  seen = {r["task"].decode() for r in ds.take(40).as_numpy_iterator()}
  assert "synthetic" in seen and len(seen) > 1


def test_training_batches_from_the_with_synthetic_mixture(setup):
  cfg, vocab, _, _ = setup
  it = pipeline.make_batch_iterator(cfg, vocab, seq_len=4096, host_batch_size=2, seed=0)
  texts = []
  for _ in range(6):
    batch = next(it)
    assert batch["input_tokens"].shape == (2, 4096) and batch["loss_weights"].sum() > 0
    texts.append(vocab.decode([int(t) for t in batch["input_tokens"][batch["segment_ids"] > 0]]))
  text = "".join(texts)
  assert "Run the function on the two given lists" in text  # synthetic samples
  assert "In short, the input is instructions = " in text or "flip" in text  # RF-pretraining samples


def test_build_is_reused_and_bad_settings_name_the_key(setup, data_cfg):
  cfg = setup[0]
  settings, path = snippet_tfds.ensure_built(cfg)
  assert snippet_tfds.ensure_built(cfg) == (settings, path)
  assert len(list(path.parent.parent.iterdir())) == 1
  bad = copy.deepcopy(data_cfg)
  bad.synthetic = {"num_trian": 5}
  with pytest.raises(ValueError, match="data.synthetic: unknown keys"):
    snippet_tfds.resolve(bad)
  bad.synthetic = {"lengths": "1-x"}
  with pytest.raises(ValueError, match="data.synthetic.lengths"):
    snippet_tfds.resolve(bad)
  bad.synthetic = {"num_train": 0, "num_validation": 0}
  with pytest.raises(ValueError, match="both 0"):
    snippet_tfds.resolve(bad)


def test_other_mixtures_never_build_the_synthetic_set(data_cfg):
  assert snippet_task.maybe_register(data_cfg, vocab_lib.CharVocabulary(), None) == ()


def test_settings_are_command_line_overridable():
  from meta_rfft.config.loader import load_config
  cfg, _ = load_config(["--config=configs/rf_pretrain.py", "--config.data.synthetic.num_train=7",
                        "--config.data.synthetic.lengths=2-4", "--config.data.synthetic_rate=0.25"])
  settings = snippet_tfds.resolve(cfg.data)
  assert dict(settings.counts)["train"] == 7 and settings.lengths == (2, 3, 4)
  assert snippet_task._rate(cfg.data, default=123.0) == 0.25
  untouched, _ = load_config(["--config=configs/rf_pretrain.py"])
  assert dict(snippet_tfds.resolve(untouched.data).counts)["train"] == 100_000
  assert snippet_task._rate(untouched.data, default=123.0) == 123.0
  with pytest.raises(ValueError, match="config.data.synthetic.num_train"):  # the typo's nearest key is named
    load_config(["--config=configs/rf_pretrain.py", "--config.data.synthetic.num_trian=7"])
