"""python -m meta_rfft.evaluate convergence --config=configs/convergence.py --workdir=runs/convergence \
    --config.base=runs/rf_pretrain --config.tuned=runs/adapt_multitask [--config.tasks=...] [--config.ks=1,2]

Does fine-tuning only unlock what in-context examples already could? Four arms on identical test questions, all
scored by the evaluator's scorer: Base-D (the base model zero-shot), Gold (the base model with k gold worked
examples), SampleGen (the examples' answers written by the tuned model, the base model answers) and Direct (the
tuned model zero-shot); then the correlations of Direct with Gold and with SampleGen over tasks and over
task x length cells, with bootstrap intervals over tasks, for all tasks and separately for tasks seen in
RF-pretraining and held out. `config.tuned`: one multi-task run, or TASK=PATH entries (comma-separated).
DIR/convergence/ receives report.md, report.json, the figures and each arm's samples.jsonl (resumable). Every key:
meta_rfft/evaluate/convergence/config.py. Variants (the config argument):
  (none)  the paper-scale defaults: held-out tasks, lengths 1-10, 20 questions per task and length, k = 1;
  cpu     docs/studies/convergence.md's CPU experiment (tests/benchmarks/convergence_experiment.py runs it end to end).
"""
from meta_rfft.evaluate.convergence.config import default_convergence_config

VARIANTS = ("", "cpu")


def get_config(arg=""):
  if arg not in VARIANTS:
    raise ValueError(f"configs/convergence.py: unknown variant {arg!r}; choose from {VARIANTS}")
  c = default_convergence_config()
  if arg == "cpu":
    c.lengths = "1-8"
    c.length_buckets = "1-2,3-4,5,6-8"
    c.samples_per_length = 8
    c.ks = "1,2"
    c.batch_size = 16
  return c
