"""The convergence study's config (configs/convergence.py returns it): which models, tasks, lengths and arms.

The decoding keys (seed, vocab, chat_template, system_prompt, chat_date, user_tasks, batch_size, positions, generation
limits, answer_parse, decoding, buckets, model, mesh, sharding, distributed) mean what they mean for
`python -m meta_rfft.evaluate` (meta_rfft/evaluate/config.py) and apply to every model of the study.
"""
import ml_collections

from meta_rfft.evaluate.config import default_eval_config

# The evaluation keys the study decodes with, as meta_rfft/evaluate/config.py defines them.
DECODING_KEYS = ("seed", "vocab", "chat_template", "system_prompt", "chat_date", "user_tasks", "batch_size",
                 "positions", "position_range", "answer_parse", "max_new_factor", "max_new_extra", "max_new_tokens",
                 "decoding", "prompt_buckets", "new_token_buckets", "model", "mesh", "sharding", "distributed",
                 "train_lengths")


def default_convergence_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.base = ""                  # the base model: a converted CKPT, trainer WORKDIR (latest step) or step folder
  # The tuned models: one PATH used for every task (a multi-task run), or comma-separated TASK=PATH entries
  # (one run per task), or both (PATH for the tasks no entry names). Each a trainer WORKDIR or checkpoint.
  c.tuned = ""
  # Tasks the base model was RF-pretrained on: "" = read from the base's trainer run (its data.mixture and
  # data.build.tasks; none for a converted checkpoint), "none", or task ids / split names.
  c.seen_tasks = ""
  c.tasks = "heldout"          # as for evaluate: "heldout", "rf_pretrain", task ids, or a comma-separated mix
  c.format = "rf"              # the zero-shot format of Base-D and Direct; Gold and SampleGen add k examples
  c.ks = "1"                   # demonstrations per prompt in Gold and SampleGen, e.g. "1,2"; k=1 in rf = rf_1shot
  c.demo_seed = 0              # 0: demonstration 0 of a question is rf_1shot's; else another fixed draw
  c.lengths = "1-10"
  c.length_buckets = ""        # "" = one bucket per length; else e.g. "1-5,6-10" (cells of the report)
  c.samples_per_length = 20
  c.bootstrap = ml_collections.ConfigDict(dict(resamples=2000, confidence=0.95, seed=0))
  evaluation = default_eval_config()
  for key in DECODING_KEYS:
    c[key] = evaluation[key]
  return c
