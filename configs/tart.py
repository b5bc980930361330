"""TART's reasoning head: trained on synthetic logistic regression, then evaluated on real classification data.

python -m meta_rfft.tart train --config=configs/tart.py --workdir=runs/tart
python -m meta_rfft.tart evaluate --config=configs/tart.py --workdir=runs/tart [--config.eval.checkpoint=CKPT]

Variants (`--config=configs/tart.py:VARIANT`):
  ""     the paper's head: 12 layers, width 256, 8 heads, d = 16, up to 258 examples; Adam 1e-4, batch 128,
         24,000 steps with the curriculum every 1,000 steps. An accelerator's job.
  small  the paper's smallest head (3 layers, width 64, 2 heads) on the same task and curriculum, with the
         curriculum compressed to fit a CPU run; docs/studies/tart.md's experiment.
  tiny   a test head (d = 4, up to 34 examples, 1,200 steps of batch 64: about a minute on a CPU).
Every key and its meaning is below; override any with --config.KEY=VALUE.
"""
import ml_collections

from meta_rfft.config.defaults import mesh_section, sharding_section
from meta_rfft.distributed import default_config as distributed_section

VARIANTS = ("", "small", "tiny")


def get_config(arg=None):
  variant = arg or ""
  if variant not in VARIANTS:
    raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(repr(v) for v in VARIANTS)}")
  c = ml_collections.ConfigDict()
  c.seed = 0                      # initialisation and the synthetic stream (batch i draws from fold_in(seed, i))

  c.head = ml_collections.ConfigDict()
  c.head.input_dim = 16           # d: features per example; labels are written into coordinate 0
  c.head.max_points = 258         # the most labelled examples a sequence holds (2 positions each)
  c.head.width = 256
  c.head.layers = 12
  c.head.heads = 8
  c.head.mlp = 704                # SwiGLU width: 3 * 256 * 704 weights, about GPT-2's 2 * 256 * 1024
  c.head.dtype = "float32"        # compute dtype; parameters stay float32
  c.head.scan_layers = True
  c.head.remat_policy = "none"

  c.synthetic = ml_collections.ConfigDict()
  c.synthetic.alpha = 10.0        # w ~ alpha * N(0, I): larger means less label noise

  c.curriculum = ml_collections.ConfigDict()  # grows to head.input_dim and head.max_points
  c.curriculum.dims_start = 4
  c.curriculum.dims_step = 4
  c.curriculum.points_start = 18
  c.curriculum.points_step = 30
  c.curriculum.every = 1000       # training steps per curriculum stage

  c.optim = ml_collections.ConfigDict()
  c.optim.learning_rate = 1e-4    # Adam
  c.optim.warmup_steps = 0
  c.optim.grad_clip_norm = 0.0    # 0: no clipping

  c.train = ml_collections.ConfigDict()
  c.train.steps = 24000
  c.train.batch_size = 128        # sequences per step, across all devices
  c.train.log_every = 50
  c.train.checkpoint_every = 1000
  c.train.keep = 3                # checkpoints kept (0: all)
  c.train.async_save = True

  c.mesh = mesh_section(shape=(-1, 1, 1))  # data parallel: the batch is split over every device
  c.sharding = sharding_section()
  c.distributed = distributed_section()

  c.eval = ml_collections.ConfigDict()
  c.eval.ks = (16, 32, 64, 128, 256)   # labelled examples in context (each at most head.max_points - 1)
  c.eval.seeds = (42, 69, 128)         # which k examples are drawn (and the synthetic held-out tasks)
  c.eval.test_size = 200               # queries per (dataset, k, seed), drawn from the examples not in context
  c.eval.datasets = ("breast_cancer", "digits_3_8", "digits_4_9", "digits_1_7")  # scikit-learn feature data
  c.eval.synthetic_tasks = 32          # held-out synthetic tasks per (k, seed), at the full input_dim
  c.eval.checkpoint = ""               # the LM embedding text examples: converted checkpoint or trainer WORKDIR
  c.eval.rf_tasks = ""                 # "boolean" (every rule task answering True/False), ids "a,b", or "" (none)
  c.eval.rf_length = 3                 # instance length of the rule-task examples
  c.eval.rf_pool = 600                 # examples drawn per rule task (half of each label at most)
  c.eval.jsonl = ""                    # a user's file of {"text": ..., "label": 0|1} lines
  c.eval.label_words = "negative,positive"  # the words for labels 0,1 in the prompt (rule tasks: False,True)
  c.eval.modes = ("stream", "vanilla", "loo")  # how the LM embeds the examples
  c.eval.max_chars = 100               # example text kept (its end: a rule task's instance is there)
  c.eval.max_prompt_tokens = 0         # longest k-example prompt run; 0: the LM's max_position_embeddings
  c.eval.lm_batch = 8                  # prompts per LM forward pass

  if variant == "small":
    c.head.width, c.head.layers, c.head.heads, c.head.mlp = 64, 3, 2, 176
    # The curriculum's stages are shorter and finer (dims +2 every 300 steps); lr 1e-3 without warm-up or
    # clipping: the settings under which this head left the loss plateau at log 2 on a CPU budget.
    c.curriculum.dims_step = 2
    c.curriculum.every = 300
    c.optim.learning_rate = 1e-3
    c.train.steps = 3000
    c.train.batch_size = 64
    c.train.log_every = 50
    c.train.checkpoint_every = 250
  elif variant == "tiny":
    c.head.input_dim, c.head.max_points = 4, 34
    c.head.width, c.head.layers, c.head.heads, c.head.mlp = 32, 2, 2, 88
    c.curriculum.dims_start, c.curriculum.dims_step = 2, 2
    c.curriculum.points_start, c.curriculum.points_step, c.curriculum.every = 10, 12, 40
    c.optim.learning_rate = 1e-3
    c.train.steps = 1200
    c.train.batch_size = 64
    c.train.log_every = 100
    c.train.checkpoint_every = 600
    c.train.async_save = False
    c.eval.ks = (8, 16, 32)
    c.eval.seeds = (42, 69)
    c.eval.test_size = 40
    c.eval.datasets = ("breast_cancer",)
    c.eval.synthetic_tasks = 8
  return c
