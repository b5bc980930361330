"""The pipeline's pieces one by one: the locally built base (tokenizer merges, rope_theta), the stage runner's
records, the summary across seeds and its targets, and the HF check with randomized position ids."""
import json
import os

import numpy as np
import pytest

from meta_rfft.model.config import from_hf_config, load_hf_config
from meta_rfft.pipeline import hf_build, stages, summary
from meta_rfft.pipeline.config import default_config
from meta_rfft.pipeline.layout import Layout
from meta_rfft.tasks import formats, registry


def _texts():
  return [t for s in range(4) for e in [formats.make_example(registry.get_task("lc_283"), 3, s, "rf")]
          for t in (e.inputs, e.targets)]


def test_word_merges_stay_inside_words_and_free_merges_cross_them(tmp_path):
  import tokenizers
  sizes = {}
  for merges in ("free", "words"):
    hf_build.train_tokenizer(_texts(), str(tmp_path / merges), 400, merges=merges)
    tok = tokenizers.Tokenizer.from_file(str(tmp_path / merges / "tokenizer.json"))
    pieces = [tok.decode([i]) for i in range(tok.get_vocab_size())]
    crossing = [p for p in pieces if len(p.strip()) > 1 and (" " in p.strip() or "\n" in p.strip())]
    sizes[merges] = sum(len(tok.encode(t).ids) for t in _texts())
    if merges == "words":
      assert not crossing
    else:
      assert crossing  # e.g. whole recited lines
  assert sizes["free"] < sizes["words"]
  with pytest.raises(ValueError, match="merges='phrases' unknown"):
    hf_build.train_tokenizer(_texts(), str(tmp_path / "x"), 400, merges="phrases")


def test_built_base_carries_rope_theta(tmp_path):
  cfg = default_config()
  cfg.base.update(dict(vocab_size=400, hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1,
                       intermediate_size=64, rope_theta=123456.0, tokenizer_lengths="1-2", tokenizer_per_length=2))
  tok = stages.build_tokenizer(cfg, str(tmp_path / "tok"), ["lc_283"])
  out = stages.build_base(cfg, str(tmp_path / "base"), tok, seed=3)["hf_dir"]
  model_cfg = from_hf_config(load_hf_config(out))
  assert model_cfg.arch.rope.theta == 123456.0 and os.path.isfile(os.path.join(out, "tokenizer.json"))
  assert not os.path.exists(str(tmp_path / "base") + ".tmp")


def _fake_report(path, task, accs):
  lengths = {str(n): {"accuracy": a, "count": 10, "loop_error_mean": 1.0 - a, "loop_error_rate": 1.0 - a}
             for n, a in enumerate(accs, start=1)}
  from meta_rfft.evaluate.length.metrics import max_len_at
  block = {"lengths": lengths, "acc_longest": accs[-1], "max_len_90": max_len_at(dict(enumerate(accs, 1))),
           "longest_length": len(accs)}
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    json.dump({"formats": {"rf": {"tasks": {task: block}}}}, f)


def test_summary_across_seeds_and_targets(tmp_path):
  lay = Layout(str(tmp_path))
  rng = np.random.default_rng(11)
  drawn = {}
  for s in (0, 1, 2):
    for task in ("lc_283", "lc_1598"):
      for arm, cut in (("meta", 7), ("vanilla", 4)):
        accs = [float(x) for x in rng.uniform(0.9, 1.0, 8)]
        accs[cut + s % 2:] = [float(x) for x in rng.uniform(0.0, 0.5, 8 - cut - s % 2)]
        drawn[(s, task, arm)] = accs
        _fake_report(lay.eval_report(s, task, arm), task, accs)
  got = summary.collect(lay, seeds=[0, 1, 2], tasks=["lc_283", "lc_1598"], arms=["meta", "vanilla"], fmt="rf",
                        adapt_lengths=[1, 2, 3])
  meta = got["tasks"]["lc_283"]["meta"]
  assert meta["max_len_90"]["values"] == [7, 8, 7]
  assert np.isclose(meta["max_len_90"]["std"], np.std([7, 8, 7], ddof=1))
  for n in (1, 5, 8):
    accs = [drawn[(s, "lc_283", "meta")][n - 1] for s in (0, 1, 2)]
    assert np.isclose(meta["accuracy"][n]["mean"], np.mean(accs)) and meta["accuracy"][n]["max"] == max(accs)
  assert np.isclose(meta["in_distribution"]["mean"], np.mean([np.mean(drawn[(s, "lc_283", "meta")][:3])
                                                             for s in (0, 1, 2)]))
  assert np.isclose(got["arms"]["meta"]["max_len_90_mean"], np.mean([7, 8, 7] * 2))
  assert np.isclose(got["gaps"]["meta_minus_vanilla"], np.mean([7, 8, 7]) - np.mean([4, 5, 4]))
  targets = {t["target"]: t["holds"] for t in summary.check_targets(
      got, {"meta_max_len_90": 7.0, "gap_vanilla": 4.0, "in_distribution": 0.9})}
  assert targets["Meta-RFFT mean Max_Len_90% >= 7"] is True
  assert targets["Meta-RFFT mean Max_Len_90% >= vanilla's + 4"] is False  # the gap is 3
  assert targets["meta: in-distribution accuracy >= 90% (every task and seed)"] is True
  with pytest.raises(FileNotFoundError, match="rerun the pipeline"):
    summary.collect(lay, seeds=[0, 3], tasks=["lc_283"], arms=["meta"], fmt="rf", adapt_lengths=[1])


def test_hf_check_with_random_position_ids(tiny_eval_checkpoint):
  from meta_rfft.data.vocab import make_vocabulary
  from meta_rfft.pipeline.hf_check import check_export
  from meta_rfft.sharding.mesh import make_mesh
  from meta_rfft.sharding.rules import DEFAULT_RULES
  hf_dir = os.path.join(os.path.dirname(tiny_eval_checkpoint), "hf")  # the weights the checkpoint was converted from
  prompts = [formats.make_example(registry.get_task("nupa_length_integer"), n, 1, "rf").inputs for n in (1, 3)]
  vocab = make_vocabulary(hf_dir)
  import jax
  mesh = make_mesh((1, 1, 1), devices=jax.devices()[:1])
  result = check_export(hf_dir, tiny_eval_checkpoint, prompts, 12, mesh, DEFAULT_RULES, vocab, positions="random",
                        position_range=1024)
  assert result["passed"] and result["positions"] == "random" and result["tokens_compared"] >= 12


def test_hf_greedy_loop_with_contiguous_ids_is_generate(tiny_eval_checkpoint):
  import torch
  import transformers
  from meta_rfft.evaluate.decode import eos_ids_of
  from meta_rfft.pipeline.hf_check import _hf_generate, _hf_greedy_at
  hf_dir = os.path.join(os.path.dirname(tiny_eval_checkpoint), "hf")
  hf = transformers.AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
  ids = np.random.default_rng(5).integers(3, 300, size=9).tolist()
  eos = eos_ids_of(hf.config.eos_token_id)[0]
  assert _hf_greedy_at(hf, ids, np.arange(9 + 12), 12, eos) == _hf_generate(hf, ids, 12, eos, eos)[:12]


def test_report_totals_count_only_the_reported_seeds_and_arms():
  """DIR/stages/ keeps every finished stage, also of earlier runs with more seeds or arms: a report on seed 0
  with two arms must not add the other seeds' or the control's CPU to its totals."""
  from meta_rfft.pipeline.report import stages_in_report
  names = ["tokenizer", "seed_0/hf_base", "seed_1/hf_base", "seed_0/convert", "seed_0/rf_pretrain",
           "seed_0/rf_pretrain_short", "seed_1/rf_pretrain", "seed_0/lc_283/meta", "seed_0/lc_283/meta/eval",
           "seed_0/lc_283/control", "seed_0/lc_283/control/eval", "seed_0/lc_283/vanilla", "seed_1/lc_283/vanilla",
           "export_hf", "hf_check"]
  records = {n: {"seconds": 1.0, "cpu_seconds": 2.0} for n in names}
  kept = stages_in_report(records, seeds=[0], arms=["meta", "vanilla"])
  assert sorted(kept) == sorted(["tokenizer", "seed_0/hf_base", "seed_0/convert", "seed_0/rf_pretrain",
                                 "seed_0/lc_283/meta", "seed_0/lc_283/meta/eval", "seed_0/lc_283/vanilla",
                                 "export_hf", "hf_check"])
  assert sorted(stages_in_report(records, seeds=[0, 1], arms=["meta", "vanilla", "control"])) == sorted(names)


def test_sigterm_in_a_training_stage_exits_143_with_one_line(tmp_path, capsys):
  """The trainer saves on SIGTERM; the pipeline's stage then ends the command as every command ends on SIGTERM
  (exit 143, one line), not with a traceback the launchers would take for a failure."""
  import signal
  import threading
  import time
  from meta_rfft.config.defaults import model_section, tiny_arch
  from meta_rfft.train.config import base_config
  c = base_config()
  c.model = model_section(**tiny_arch(64, hidden_size=32, layers=2, heads=4, kv_heads=2, intermediate_size=64))
  c.train.data_source, c.data.seq_len, c.train.batch_size, c.train.steps = "synthetic", 32, 8, 100_000
  c.eval.every, c.log_every = 0, 1000
  workdir = tmp_path / "run"

  def stop_once_training():
    deadline = time.time() + 300
    metrics = workdir / "metrics.jsonl"  # a step logged: the trainer is past installing its SIGTERM handler
    while not (metrics.exists() and metrics.read_text().strip()) and time.time() < deadline:
      time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)
  threading.Thread(target=stop_once_training, daemon=True).start()
  with pytest.raises(SystemExit) as stopped:
    stages.run_training(c, str(workdir))
  assert stopped.value.code == 143
  err = capsys.readouterr().err.strip().splitlines()
  assert err[-1].startswith(f"[pipeline] stopped by SIGTERM while training in {workdir}") and "resume" in err[-1]
  assert os.listdir(workdir / "checkpoints")  # the trainer saved before the stage ended the command
