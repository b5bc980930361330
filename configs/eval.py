"""Length-generalisation evaluation of a checkpoint.

python -m meta_rfft.evaluate --config=configs/eval.py --workdir=RUN [--config.checkpoint=CKPT] \
    [--config.tasks=heldout] [--config.formats=rf] [--config.lengths=1-30] [--config.samples_per_length=100]

RUN/eval/ receives report.json, report.md, samples.jsonl and accuracy_vs_length.png. With an empty
`checkpoint`, RUN itself is evaluated (a trainer WORKDIR: its latest step, adapters merged). Every key and its
meaning: meta_rfft/evaluate/config.py. Several hosts: the same command on every host, joined by
`config.distributed` as for the trainer (process 0 writes RUN/eval/).

python -m meta_rfft.evaluate --config=configs/eval.py --workdir=RUN --config.qa=gsm8k_test.jsonl \
    [--config.qa_max_new_tokens=512]

scores a JSONL file of {"question", "answer"} objects instead (exact match on the final answer, GSM8K's
"#### 42" by default: config.qa_answer_pattern) into RUN/eval/qa/<file stem>/: report.json, report.md,
samples.jsonl.
"""
from meta_rfft.evaluate.config import default_eval_config


def get_config(arg=None):
  del arg
  return default_eval_config()
