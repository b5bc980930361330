"""`python -m meta_rfft.pipeline --config=configs/demo.py --workdir=DIR [--config.x=y ...]`: the whole
Meta-RFFT flow (see meta_rfft/pipeline/stages.py for what lands where). Rerunning skips finished stages."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

from meta_rfft.pipeline import stages


def _eval_config(cfg, label: str):
  from meta_rfft.evaluate.config import default_eval_config
  e = default_eval_config()
  e.label = label
  e.tasks = cfg.heldout_task
  e.formats = "rf"
  e.lengths = cfg.eval.lengths
  e.samples_per_length = int(cfg.eval.samples_per_length)
  e.train_lengths = cfg.data.adapt_lengths
  e.seed = int(cfg.seed)
  e.batch_size = int(cfg.eval.batch_size)
  e.max_new_factor = float(cfg.eval.max_new_factor)
  e.max_new_extra = int(cfg.eval.max_new_extra)
  e.model.dtype = cfg.model.dtype  # not scan_layers: decoding picks its own (evaluate.config.decode_scan_layers)
  e.mesh = cfg.mesh
  e.sharding = cfg.sharding
  return e


def run(cfg, workdir: str) -> str:
  """Runs (or resumes) every stage; returns the path of DIR/report.md."""
  from meta_rfft.evaluate.examples import lengths_of
  workdir = os.path.abspath(workdir)
  os.makedirs(workdir, exist_ok=True)
  runner = stages.StageRunner(workdir)
  pretrain = stages.task_list(cfg.pretrain_tasks, "rf_pretrain", "pretrain_tasks")
  heldout = stages.task_list(cfg.heldout_task, "heldout", "heldout_task")
  if len(heldout) != 1:
    raise ValueError(f"config.heldout_task must name one held-out task, got {cfg.heldout_task!r}")
  heldout = heldout[0]
  p = lambda name: os.path.join(workdir, name)  # noqa: E731
  data_dir = p("data")

  if cfg.hf_checkpoint:
    hf_dir = os.path.abspath(cfg.hf_checkpoint)
    if not os.path.isfile(os.path.join(hf_dir, "config.json")):
      raise ValueError(f"config.hf_checkpoint={cfg.hf_checkpoint!r}: no config.json there")
    base_desc = f"`{hf_dir}`"
  else:
    def build():
      shutil.rmtree(p("hf_base") + ".tmp", ignore_errors=True)
      if os.path.isfile(os.path.join(p("hf_base"), "model.safetensors")):
        return {"hf_dir": p("hf_base")}
      return stages.build_base(cfg, p("hf_base"), pretrain, heldout)
    info = runner.run("hf_base", build)
    hf_dir = info["hf_dir"]
    b = cfg.base
    base_desc = (f"a random-initialised Qwen2 (hidden {b.hidden_size}, {b.num_layers} layers, {b.num_heads} heads / "
                 f"{b.num_kv_heads} KV heads, BPE vocabulary of {info.get('vocab_size', b.vocab_size)} trained "
                 "locally on the task text) built with transformers")

  def convert():
    from meta_rfft.convert import hf_to_orbax
    if os.path.isfile(os.path.join(p("base_ckpt"), "meta_rfft.json")):
      return {"ckpt": p("base_ckpt")}
    return {"ckpt": hf_to_orbax(hf_dir, p("base_ckpt"), dtype=cfg.convert_dtype or None)}
  runner.run("convert", convert)

  build_tasks = pretrain + [heldout]
  def train(stage, init, mixture, out):
    return lambda: stages.run_training(
        stages.train_config(cfg, stage, init=init, mixture=mixture, build_tasks=build_tasks, data_dir=data_dir),
        p(out))
  runner.run("rf_pretrain", train(cfg.pretrain, p("base_ckpt"), ",".join(pretrain), "rf_pretrain"))
  runner.run("adapt_meta", train(cfg.adapt, p("rf_pretrain"), heldout, "adapt_meta"))
  runner.run("adapt_vanilla", train(cfg.adapt, p("base_ckpt"), heldout, "adapt_vanilla"))

  from meta_rfft.evaluate.runner import evaluate
  labels = {"adapt_meta": "Meta-RFFT", "adapt_vanilla": "vanilla RFFT"}
  for name, label in labels.items():
    runner.run(f"eval_{name}", lambda name=name, label=label: evaluate(_eval_config(cfg, label), p(name))["paths"])

  def export():
    from meta_rfft.convert import orbax_to_hf
    shutil.rmtree(p("export_hf"), ignore_errors=True)  # a half-written export from an interrupted run
    return {"export_dir": orbax_to_hf(p("adapt_meta"), p("export_hf"), dtype="float32")}
  runner.run("export_hf", export)

  def hf_check():
    from meta_rfft.convert.sources import resolve
    from meta_rfft.evaluate.runner import eval_vocabulary
    from meta_rfft.sharding.mesh import mesh_from_config
    from meta_rfft.sharding.rules import normalize_rules
    from meta_rfft.pipeline.hf_check import check_export
    with open(os.path.join(p("adapt_meta"), "eval", "samples.jsonl")) as f:
      rows = [json.loads(line) for line in f if line.strip()][1:]
    # Prompts spread over the adaptation lengths: long, meaningful outputs rather than the first few shortest.
    in_dist = [r for r in rows if r["length"] in lengths_of(cfg.data.adapt_lengths)] or rows
    n = min(int(cfg.hf_check_prompts), len(in_dist))
    prompts = [in_dist[round(i * (len(in_dist) - 1) / max(n - 1, 1))]["prompt"] for i in range(n)]
    vocab = eval_vocabulary("", p("adapt_meta"), resolve(p("adapt_meta")).hf_dir)
    result = check_export(p("export_hf"), p("adapt_meta"), prompts, int(cfg.hf_check_new_tokens),
                          mesh_from_config(cfg.mesh), normalize_rules(dict(cfg.sharding.rules)), vocab)
    with open(os.path.join(p("export_hf"), "hf_check.json"), "w") as f:
      json.dump(result, f, indent=2)
    if not result["passed"]:
      raise RuntimeError(f"HF export check failed: {result}")
    return result
  check = runner.run("hf_check", hf_check)

  from meta_rfft.evaluate.compare import compare
  from meta_rfft.pipeline import report
  cmp = compare([p(n) for n in labels], workdir, list(labels.values()))
  adapt_lengths = lengths_of(cfg.data.adapt_lengths)
  reports = {label: os.path.join(p(name), "eval", "report.json") for name, label in labels.items()}
  in_dist = {label: report.in_distribution(path, "rf", heldout, adapt_lengths) for label, path in reports.items()}
  loops = {label: report.loop_error_beyond(path, "rf", heldout, adapt_lengths) for label, path in reports.items()}
  facts = {"heldout": heldout, "pretrain": pretrain, "base": base_desc}
  path = report.write(p("report.md"), cfg=cfg, facts=facts, table=cmp["table"], in_dist=in_dist, loops=loops,
                      hf_check=check, timings=runner.timings())
  print(cmp["table"])
  print("in distribution: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in in_dist.items() if v is not None))
  return path


def main(argv: list[str]) -> int:
  from meta_rfft.config.loader import main_with_config, save_config
  cfg, rest = main_with_config(argv)
  parser = argparse.ArgumentParser(prog="python -m meta_rfft.pipeline")
  parser.add_argument("--workdir", required=True, help="DIR: every stage writes under it")
  args = parser.parse_args(rest)
  save_config(cfg, args.workdir, argv)
  try:
    path = run(cfg, args.workdir)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
