"""The TFDS build (materialised once, reused) and the seqio tasks/mixtures over it."""
import json

import pytest
import seqio

from meta_rfft import shipped
from meta_rfft.data import materialize, pipeline, seqio_tasks, tfds_build, tfds_data
from meta_rfft.data import vocab as vocab_lib
from meta_rfft.tasks import formats, registry


@pytest.fixture(scope="module")
def reg(data_cfg):
  return seqio_tasks.register(data_cfg, vocab_lib.CharVocabulary())


def test_build_is_reused_and_holds_the_rendered_examples(data_cfg, reg):
  stamp = (reg.path / "dataset_info.json").stat().st_mtime_ns
  settings, path = tfds_data.ensure_built(data_cfg)
  assert path == reg.path and (path / "dataset_info.json").stat().st_mtime_ns == stamp
  assert len(list(path.parent.parent.iterdir())) == 1  # one build for one setting
  # 3 per length at lengths 1-3 (lc_258 is held out) and, for the rf_pretrain tasks, 1-4.
  assert tfds_data.num_examples(path, "lc_258", "train") == 9
  assert tfds_data.num_examples(path, "sr_coin_flip", "train") == 12
  rows = list(tfds_data.read_split(path, "lc_258", "train").as_numpy_iterator())
  assert sorted((r["length"], r["seed"]) for r in rows) == [(n, k) for n in (1, 2, 3) for k in range(3)]
  task = registry.get_task("lc_258")
  for r in rows[:3]:
    instance = formats.sample_instance(task, int(r["length"]), int(r["seed"]))
    assert json.loads(r["instance"]) == instance
    for fmt in ("rf", "rf_1shot", "scratchpad", "direct"):
      e = formats.render(task, instance, fmt, int(r["seed"]))
      assert (r[f"{fmt}_inputs"].decode(), r[f"{fmt}_targets"].decode()) == (e.inputs, e.targets)
    assert r["answer"].decode() == e.answer
  # RF-pretraining tasks store rf and rf_1shot only (the baselines are for adaptation).
  row = next(tfds_data.read_split(path, "sr_coin_flip", "train").as_numpy_iterator())
  assert row["rf_inputs"] and row["direct_inputs"] == b""
  # Test and validation instances never reuse a train seed.
  test_seeds = {int(r["seed"]) for r in tfds_data.read_split(path, "lc_258", "test").as_numpy_iterator()}
  assert min(test_seeds) == materialize.SEED_OFFSET["test"]


def test_names_and_mixing_rates(data_cfg, reg):
  assert set(reg.tasks) == {"meta_rfft.lc_258.rf", "meta_rfft.lc_258.rf_1shot", "meta_rfft.lc_258.scratchpad",
                            "meta_rfft.lc_258.direct", "meta_rfft.sr_coin_flip.rf",
                            "meta_rfft.sr_coin_flip.rf_1shot", "meta_rfft.bbh_navigate.rf",
                            "meta_rfft.bbh_navigate.rf_1shot"}
  mix = seqio.get_mixture_or_task("meta_rfft.rf_pretrain.rf")
  assert {t.name for t in mix.tasks} == {"meta_rfft.sr_coin_flip.rf", "meta_rfft.bbh_navigate.rf"}
  assert mix.get_rate(seqio.get_mixture_or_task("meta_rfft.bbh_navigate.rf")) == 12.0
  assert "meta_rfft.adapt.lc_258.scratchpad" in reg.mixtures
  assert seqio_tasks.mixture_name(data_cfg, reg) == "meta_rfft.rf_pretrain.rf"
  cfg = data_cfg.copy_and_resolve_references()
  cfg.mixing_rates = "bbh_navigate=0.5"
  cfg.mixture = "lc_258,bbh_navigate"
  name = seqio_tasks.mixture_name(cfg, reg)
  rates = {t.name: seqio.get_mixture_or_task(name).get_rate(t) for t in seqio.get_mixture_or_task(name).tasks}
  assert rates == {"meta_rfft.lc_258.rf": 9.0, "meta_rfft.bbh_navigate.rf": 0.5}
  cfg.mixture = "lc_258"
  assert seqio_tasks.mixture_name(cfg, reg) == "meta_rfft.lc_258.rf"
  with pytest.raises(ValueError, match="did you mean lc_258"):
    seqio_tasks.parse_rates("lc_25=1")
  cfg.mixture, cfg.format = "rf_pretrain", "direct"
  with pytest.raises(ValueError, match="not registered"):
    seqio_tasks.mixture_name(cfg, reg)


def test_bad_build_settings_name_the_key(data_cfg):
  cfg = data_cfg.copy_and_resolve_references()
  cfg.build.heldout_formats = "rf,fancy"
  with pytest.raises(ValueError, match="heldout_formats.*'fancy'"):
    materialize.resolve(cfg.build)
  cfg = data_cfg.copy_and_resolve_references()
  cfg.build.splits.train.heldout.lengths = "1-x"
  with pytest.raises(ValueError, match="splits.train.heldout.lengths"):
    materialize.resolve(cfg.build)


def test_eval_examples_are_finite_unshuffled_and_sharded(data_cfg, reg):
  vocab = vocab_lib.CharVocabulary()
  whole = list(pipeline.iterate_examples(data_cfg, vocab, task_id="lc_258", fmt="rf", split="test"))
  assert [(e["length"], e["seed"]) for e in whole] == [
      (e["length"], e["seed"]) for e in pipeline.iterate_examples(data_cfg, vocab, task_id="lc_258", fmt="rf",
                                                                   split="test")]
  assert len(whole) == 2
  e = whole[0]
  assert e["prompt_tokens"].tolist() == [vocab.bos_id] + list(vocab.encode(e["inputs"]))
  assert e["targets"].endswith("So the answer is " + e["answer"])
  parts = [list(pipeline.iterate_examples(data_cfg, vocab, task_id="sr_coin_flip", fmt="rf", split="train",
                                          process_index=i, process_count=2)) for i in range(2)]
  seen = [{(x["length"], x["seed"]) for x in p} for p in parts]
  assert not seen[0] & seen[1] and len(seen[0] | seen[1]) == 12


def test_parallel_rendering_gives_the_same_examples(data_cfg):
  settings = materialize.resolve(data_cfg.build)
  part = settings.parts_of("bbh_navigate")["train"]
  pool = materialize.worker_pool(2)
  try:
    assert list(materialize.generate(settings, part, pool)) == list(materialize.generate(settings, part))
  finally:
    pool.close()
    pool.join()


def test_build_entry_point(tmp_path, capsys):
  from meta_rfft.data.__main__ import main
  args = [f"--config={shipped.REPO_ROOT / 'configs' / 'data.py'}:small", f"--config.data.data_dir={tmp_path}",
          "--config.data.build.tasks=nupa_length_integer",
          "--config.data.build.splits.test.heldout.lengths=1-3"]
  assert main(args) == 0
  out = capsys.readouterr().out
  assert "train: 100 examples" in out and "test: 60 examples" in out and str(tmp_path) in out
  assert main(args[:-2] + ["--config.data.build.tasks=nupa_lenght_integer"]) == 2
  assert "did you mean nupa_length_integer" in capsys.readouterr().err


def test_default_build_is_the_papers_data():
  from meta_rfft.data.config import default_data_config
  settings = materialize.resolve(default_data_config().build)
  totals = {}
  for p in settings.parts:
    key = (registry.get_task(p.task_id).split, p.split)
    totals[key] = totals.get(key, 0) + p.num_examples
  lc_258 = settings.parts_of("lc_258")
  assert lc_258["train"].lengths == (1, 2, 3, 4, 5) and lc_258["test"].lengths == tuple(range(1, 31))
  rf_ids = {p.task_id for p in settings.parts if p.split == "train"} & {
      t.id for t in registry.tasks_in_split("rf_pretrain")}
  assert rf_ids == {t.id for t in registry.tasks_in_split("rf_pretrain")}  # every registered rf task
  assert totals[("heldout", "train")] == len(registry.tasks_in_split("heldout")) * 5 * 1000
  assert totals[("heldout", "test")] == len(registry.tasks_in_split("heldout")) * 30 * 100
  # ~300 x 15 per RF-pretraining task (fewer where a task's valid lengths start above 1).
  assert 0.9 * 74 * 4500 < totals[("rf_pretrain", "train")] <= 74 * 4500


def test_data_dir_resolution(monkeypatch, tmp_path):
  monkeypatch.setenv("META_RFFT_DATA_DIR", str(tmp_path))
  assert tfds_build.resolve_data_dir("") == tmp_path
  assert str(tfds_build.resolve_data_dir("gs://bucket/tfds")) == "gs://bucket/tfds"  # not mangled to gs:/
  monkeypatch.delenv("META_RFFT_DATA_DIR")
  assert str(tfds_build.resolve_data_dir("")).endswith(".cache/meta_rfft/tfds")
