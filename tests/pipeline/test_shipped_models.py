"""The shipped pretrained models: `job=models` (configs/pretrained_models.py:tiny) writes each model with its card,
and the experiment adapts from such models (pretrained=shipped) with every arm, replay included, as the demo (the
README's first command) does. The models in data/pretrained/ themselves: they load, convert in and export out,
their tokenizer is the card's, each card's config is what its command resolves to, and its accuracy table is
regenerated on a few of the same instances."""
import json
import os
import shlex

import numpy as np
import pytest

from meta_rfft import shipped
from meta_rfft.config.loader import main_with_config
from meta_rfft.pipeline import card as card_lib
from meta_rfft.pipeline.__main__ import main

pytestmark = pytest.mark.heavy  # started first: see tests/conftest.py

MODELS = ("base", "rf_pretrained", "rf_control")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> str:
  """DIR/models of a tiny `job=models` run: three exported models with their cards."""
  workdir = str(tmp_path_factory.mktemp("tiny_models"))
  assert main(["--config=configs/pretrained_models.py:tiny", f"--workdir={workdir}"]) == 0
  return os.path.join(workdir, "models")


def config_of_command(command: str) -> dict:
  """The config a card's command resolves to (its --workdir aside)."""
  words = shlex.split(command)
  assert words[:3] == ["python", "-m", "meta_rfft.pipeline"], command
  cfg, rest = main_with_config([w for w in words[3:] if not w.startswith("--workdir")])
  assert not rest
  return json.loads(cfg.to_json_best_effort())


def test_models_job_writes_each_model_with_its_card(tiny_models):
  cards = {m: card_lib.read(os.path.join(tiny_models, m)) for m in MODELS}
  for name, card in cards.items():
    folder = os.path.join(tiny_models, name)
    assert card["name"] == name and card["storage_dtype"] == "bfloat16"
    assert config_of_command(card["command"]) == card["config"]
    assert card["tokenizer"]["sha256"] == card_lib.file_sha256(os.path.join(folder, "tokenizer.json"))
    assert json.load(open(os.path.join(folder, "config.json")))["torch_dtype"] == "bfloat16"
    assert os.path.getsize(os.path.join(folder, card_lib.LOSS_PNG)) > 0
    md = open(os.path.join(folder, card_lib.CARD_MD)).read()
    assert card["command"] in md and "| lc_2057 |" in md
    # The table is the evaluation of the shipped files, each cell the mean of its instances' results.
    report = json.load(open(os.path.join(os.path.dirname(tiny_models), "model_checks", name, "eval", "report.json")))
    tasks = report["formats"]["rf_index"]["tasks"]
    for task, by_length in card["accuracy"]["tasks"].items():
      for length, acc in by_length.items():
        bits = card["accuracy"]["correct"][task][length]["bits"]
        assert acc == tasks[task]["lengths"][length]["accuracy"] == np.mean([b == "1" for b in bits])
  assert len({c["tokenizer"]["sha256"] for c in cards.values()}) == 1  # one tokenizer for all three
  assert [t["stage"].split(" ")[0] for t in cards["rf_control"]["training"]] == ["base", "RF-pretraining"]
  assert cards["rf_control"]["training"][1]["steps"] == cards["rf_pretrained"]["training"][1]["steps"] == 3
  assert cards["rf_control"]["accuracy"]["trained_lengths"] == "1-2"
  assert cards["base"]["accuracy"]["mastery"]["worst"] is None  # not RF-pretrained: nothing to master


def test_experiment_adapts_the_shipped_models(tiny_models, tmp_path, capsys):
  workdir = str(tmp_path / "exp")
  args = ["--config=configs/lengthgen.py:tiny", "--config.pretrained=shipped",
          f"--config.pretrained_dir={tiny_models}", "--config.pretrain_tasks=", "--config.seeds=3",
          "--config.heldout_tasks=lc_283",
          "--config.arms=meta,vanilla,control,replay", "--config.data.pretrain_lengths=1-3", "--config.eval.lengths=1-2",
          "--config.eval.samples_per_length=1"]
  assert main([*args, f"--workdir={workdir}"]) == 0
  for arm, model in (("meta", "rf_pretrained"), ("vanilla", "base"), ("control", "rf_control"),
                     ("replay", "rf_pretrained")):
    run = json.load(open(os.path.join(workdir, "seed_3", "lc_283", arm, "config.json")))["config"]
    assert run["init"]["checkpoint"] == os.path.join(workdir, "shipped", model)
    assert run["data"]["seed"] == 3
  replay = json.load(open(os.path.join(workdir, "seed_3", "lc_283", "replay", "config.json")))["config"]["data"]
  assert replay["mixture"] == "lc_283,lc_2057,lc_485"
  assert replay["mixing_rates"] == "lc_283=0.75,lc_2057=0.125,lc_485=0.125"
  assert replay["build"]["splits"]["train"]["rf_pretrain"]["lengths"] == "1-3"
  stage = json.load(open(os.path.join(workdir, "stages", "shipped", "rf_pretrained.json")))["result"]
  assert stage["source"] == os.path.join(tiny_models, "rf_pretrained")
  report = open(os.path.join(workdir, "report.md")).read()
  assert "| lc_283 | Meta-RFFT + replay |" in report and "the shipped `rf_control`" in report
  capsys.readouterr()

  # What the cards fix cannot be changed here without pretrained=train; nothing is written for a refused config.
  for overrides, message in (
      (["--config.format=rf"], "config.format='rf', but the shipped models were RF-pretrained on 'rf_index'"),
      (["--config.pretrain_tasks=lc_2057"], "config.pretrain_tasks='lc_2057', but the shipped models were"),
      (["--config.hf_checkpoint=/x"], "config.hf_checkpoint is set while config.pretrained='shipped'"),
      (["--config.data.pretrain_lengths=1-5"], "config.data.pretrain_lengths='1-5': the replay arm replays"),
      ([f"--config.pretrained_dir={tmp_path}"], f"no pretrained model 'base' in {tmp_path}")):
    assert main([*args, *overrides, f"--workdir={tmp_path / 'refused'}"]) == 2
    assert message in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "refused")


def test_demo_config_adapts_shipped_models_and_a_changed_rerun_never_reuses_stale_stages(tiny_models, tmp_path,
                                                                                         capsys):
  # The README's first command (configs/demo.py, which adapts the shipped models), on tiny models of the same kind.
  workdir = str(tmp_path / "demo")
  demo = ["--config=configs/demo.py:tiny", "--config.pretrained=shipped", f"--config.pretrained_dir={tiny_models}",
          f"--workdir={workdir}"]
  assert main(demo) == 0
  report = open(os.path.join(workdir, "report.md")).read()
  assert "| lc_283 | Meta-RFFT |" in report and "| lc_283 | vanilla RFFT |" in report
  assert "control" not in report and "PASSED" in report
  for arm, model in (("meta", "rf_pretrained"), ("vanilla", "base")):
    run = json.load(open(os.path.join(workdir, "seed_0", "lc_283", arm, "config.json")))["config"]
    assert run["init"]["checkpoint"] == os.path.join(workdir, "shipped", model)
  config_before = open(os.path.join(workdir, "config.json")).read()
  capsys.readouterr()

  # A rerun with other adaptation steps: refused at the first stage they change, naming it and the keys; nothing
  # rewritten.
  assert main([*demo, "--config.adapt.steps=5"]) == 2
  err = capsys.readouterr().err.strip().splitlines()[-1]
  assert err.startswith("error: stage 'seed_0/lc_283/meta' finished with other settings than this run's") and \
      "train.steps: 3 -> 5" in err and "rerun_changed=true" in err, err
  assert open(os.path.join(workdir, "config.json")).read() == config_before
  assert open(os.path.join(workdir, "report.md")).read() == report

  # With rerun_changed the changed stages and those reading them run again; the report states what its numbers
  # came from.
  assert main([*demo, "--config.adapt.steps=5", "--config.rerun_changed=true"]) == 0
  out = capsys.readouterr().out
  assert "[pipeline] seed_0/lc_283/meta: settings changed" in out and "[pipeline] hf_check: settings changed" in out
  assert "[pipeline] shipped/rf_pretrained: already done" in out
  for arm in ("meta", "vanilla"):
    metrics = [json.loads(line) for line in open(os.path.join(workdir, "seed_0", "lc_283", arm, "metrics.jsonl"))]
    assert [m["step"] for m in metrics if "loss" in m] == [1, 2, 3, 4, 5]
  assert json.load(open(os.path.join(workdir, "report.json")))["config"]["adapt"]["steps"] == 5
  assert json.load(open(os.path.join(workdir, "config.json")))["config"]["adapt"]["steps"] == 5


@pytest.mark.skipif(not os.path.isdir(shipped.PRETRAINED_DIR / "rf_pretrained"), reason="no shipped models")
def test_shipped_models_load_convert_and_export(tmp_path):
  from meta_rfft.convert import hf_to_orbax, orbax_to_hf
  from safetensors.numpy import load_file
  import transformers
  total = 0
  present = [m for m in MODELS if os.path.isdir(shipped.PRETRAINED_DIR / m)]
  assert present[:2] == ["base", "rf_pretrained"]  # what the demo adapts; rf_control may follow
  for name in present:
    folder = shipped.pretrained_model(name)
    card = card_lib.read(folder)
    assert config_of_command(card["command"]) == card["config"]
    assert card["tokenizer"]["sha256"] == card_lib.file_sha256(os.path.join(folder, "tokenizer.json"))
    total += sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    ckpt = hf_to_orbax(folder, str(tmp_path / name / "ckpt"))
    back = orbax_to_hf(ckpt, str(tmp_path / name / "hf"))
    a, b = load_file(os.path.join(folder, "model.safetensors")), load_file(os.path.join(back, "model.safetensors"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)  # bfloat16 in, bfloat16 out
    tok = transformers.PreTrainedTokenizerFast.from_pretrained(folder)
    assert len(tok) == card["architecture"]["vocab_size"]
  assert total <= 25 * 2 ** 20  # every shipped model together


@pytest.mark.skipif(not os.path.isdir(shipped.PRETRAINED_DIR / "rf_pretrained"), reason="no shipped models")
def test_card_accuracy_is_regenerated_on_a_sample_by_its_command(tmp_path):
  """The card's evaluation (models_job.card_eval_config of the config its command resolves to), rerun on the first
  instances of two tasks at a trained and an untrained length, gives each instance the card's result."""
  from meta_rfft.convert import hf_to_orbax
  from meta_rfft.evaluate.length.run import evaluate
  from meta_rfft.evaluate.samples import read_samples
  from meta_rfft.pipeline import models_job
  folder = shipped.pretrained_model("rf_pretrained")
  card = card_lib.read(folder)
  words = [w for w in shlex.split(card["command"])[3:] if not w.startswith("--workdir")]
  cfg, _ = main_with_config(words)
  tasks = sorted(card["accuracy"]["tasks"])[:2]
  e = models_job.card_eval_config(cfg, "rf_pretrained", tasks)
  e.lengths, e.samples_per_length = "4,17", 3
  e.checkpoint = hf_to_orbax(folder, str(tmp_path / "ckpt"), dtype="float32")
  evaluate(e, str(tmp_path / "run"))
  rows = read_samples(str(tmp_path / "run" / "eval" / "samples.jsonl"), header=None)
  assert len(rows) == 2 * 2 * 3
  for r in rows:
    cell = card["accuracy"]["correct"][r["task"]][str(r["length"])]
    seeds = sorted(x["seed"] for x in rows if x["task"] == r["task"] and x["length"] == r["length"])
    assert seeds[0] == cell["first_seed"]
    assert cell["bits"][seeds.index(r["seed"])] == ("1" if r["correct"] else "0"), (r["task"], r["length"], r["seed"])
