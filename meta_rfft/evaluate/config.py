"""The evaluation config (configs/eval.py returns it; the pipeline derives its evaluations from it)."""
import ml_collections

from meta_rfft.config.defaults import mesh_section, model_section, sharding_section
from meta_rfft.distributed import default_config as distributed_section


def default_eval_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.checkpoint = ""            # converted CKPT, trainer WORKDIR or step folder; "" = --workdir itself
  c.label = ""                 # name of this run in `compare` tables; "" = the workdir's name
  c.tasks = "heldout"          # "heldout", "rf_pretrain", task ids, or a comma-separated mix
  c.user_tasks = ""           # the user's task modules, as data.user_tasks; "" = the run's data.user_tasks
  c.formats = "rf"             # any of rf, rf_1shot, scratchpad, direct (comma-separated)
  c.lengths = "1-30"           # e.g. "1-30", "1,5,10-12"
  c.samples_per_length = 100
  c.train_lengths = "1-5"      # shaded in the plot; "" = none
  c.seed = 0                   # the data build seed: instances are the test split's of this build
  c.vocab = ""                 # "" = the run's data.vocab, else the checkpoint's tokenizer.json; "char"; path
  # How prompts are rendered (meta_rfft/data/example_codec.py): "" = as the run trained (its data.chat_template
  # and data.system_prompt); "hf" (the tokenizer files' chat template), "none" or "auto" to override.
  c.chat_template = ""
  c.system_prompt = ""         # "" = the run's data.system_prompt (none, when chat_template is set here)
  # The date (YYYY-MM-DD) a template that writes one renders: "" = the date of the evaluation being resumed, else
  # the run's data.chat_date, else today.
  c.chat_date = ""
  c.batch_size = 32
  # Position ids while decoding: "" = as the checkpoint's trainer run drew them (its data.positions and
  # data.position_range), else contiguous; "contiguous" or "random" (with position_range) to override.
  c.positions = ""
  c.position_range = 0
  # Generation limit per sample: factor x (tokens of the reference output) + extra, capped by max_new_tokens
  # (and by the model's max_position_embeddings). A model that loses count stops there, marked wrong.
  c.max_new_factor = 1.5
  c.max_new_extra = 32
  c.max_new_tokens = 16384
  # How answers are read (meta_rfft/tasks/answers.py AnswerRule): "strict", the format's answer line exactly (what
  # an RF-trained model writes); "lenient", for instruct models prompted zero-shot: "the answer is" in any case,
  # else the first line, compared ignoring whitespace. Either way the first answer counts, and the output ends
  # at a new "\nQ:" (decoding stops there too).
  c.answer_parse = "strict"
  c.decoding = decoding_section()
  c.prompt_buckets = ()        # () = powers of two; else a list of prompt lengths
  c.new_token_buckets = ()     # () = powers of two; else a list of generation lengths
  c.model = model_section()    # only the run options matter here (dtype, param_dtype, scan_layers)
  c.model.param_dtype = ""     # "" = the checkpoint's stored dtype
  # How decoding runs the layer stack; unset (None): unrolled on CPUs, scanned on TPUs and GPUs (see
  # decode_scan_layers below for why).
  c.model.scan_layers = ml_collections.FieldReference(None, field_type=bool)
  c.mesh = mesh_section()
  c.sharding = sharding_section()
  # Several processes (TPU pod, SLURM, explicit coordinator): how they join, as for the trainer. mesh.shape
  # is then per slice and mesh.dcn_shape says how many slices (hosts) each axis spans.
  c.distributed = distributed_section()
  # Questions with reference answers (meta_rfft/evaluate/qa.py), e.g. GSM8K for the general ability RF-pretraining
  # should keep: a JSONL file of {"question": ..., "answer": ...} objects (other keys are ignored). When set, this
  # set is scored (into RUN/eval/qa/<file stem>/) instead of the rule tasks (tasks, formats, lengths,
  # samples_per_length and max_new_* are then unused).
  c.qa = ""
  # A regex with one group: the model's answer is the first number in the group of its last match in the output
  # (else the group's text); the reference's likewise, else the whole reference. The default reads GSM8K's
  # "#### 42". Numbers compare by value, thousands separators only in groups of three ("1,000" == "1000", "1,2,3"
  # is no number); a final period is dropped (qa.answers_match).
  c.qa_answer_pattern = r"####\s*(.+)"
  c.qa_max_new_tokens = 512    # generation limit per question (capped by the model's max_position_embeddings)
  return c


METHODS = ("greedy", "prompt_lookup")


def decoding_section() -> ml_collections.ConfigDict:
  """How greedy outputs are computed (every method gives the same tokens: meta_rfft/evaluate/prompt_lookup.py).

  method: "greedy" (one model call per token) or "prompt_lookup" (draft_tokens drafted tokens verified per call,
  looked up by the last max_ngram..1 tokens). prompt_lookup is the default on every platform: on TPUs and GPUs
  a decoding step is bound by reading the weights and the cache, so verifying k + 1 tokens costs about what one
  does; on CPUs the extra tokens cost compute, and tests/benchmarks/decode_throughput.py (docs/performance.md "Rule-following
  traces") measures it faster all the same."""
  return ml_collections.ConfigDict(dict(method="prompt_lookup", draft_tokens=8, max_ngram=4))


MIN_BUCKET = 16  # the shortest prompt and generation buffer decoding compiles for (decode.GreedyDecoder)


def check_decoding(decoding, prompt_buckets=(), new_token_buckets=()) -> None:
  """Refuses a decoding section no decoder can run, naming the key (before anything is loaded or written).

  Prompt lookup drafts at most the shortest generation buffer (config.new_token_buckets, else MIN_BUCKET) per
  call, looked up by n-grams no longer than the shortest prompt buffer (config.prompt_buckets, else MIN_BUCKET):
  longer settings would only grow every cache and compile (past memory, or for minutes) for drafts that cannot
  be used."""
  if decoding.method not in METHODS:
    raise ValueError(f"config.decoding.method must be one of {METHODS}, got {decoding.method!r}")
  bounds = {"draft_tokens": (min(new_token_buckets) if new_token_buckets else MIN_BUCKET,
                             "the shortest generation buffer (config.new_token_buckets)"),
            "max_ngram": (min(prompt_buckets) if prompt_buckets else MIN_BUCKET,
                          "the shortest prompt buffer (config.prompt_buckets)")}
  for key, (most, what) in bounds.items():
    if int(decoding[key]) < 1:
      raise ValueError(f"config.decoding.{key} must be >= 1, got {decoding[key]}")
    if int(decoding[key]) > most:
      raise ValueError(f"config.decoding.{key}={decoding[key]} exceeds {what}, {most}")


def decode_scan_layers(scan_layers: bool | None, devices) -> bool:
  """The evaluation's model.scan_layers: as set, or when unset, False (unrolled) on CPUs and True elsewhere.

  Unrolled, each layer's KV cache is a buffer of its own and, on a CPU, its weights are sliced out of the stacks
  once per batch; a scanned stack copies both out at every generated token, so on XLA:CPU unrolling decodes
  faster (tests/benchmarks/decode_throughput.py times both layouts). On TPU a scan's slices feed the matmuls
  directly, and unrolling only costs compile time, many times the scan's for a 7B model (docs/performance.md "Decode
  throughput")."""
  if scan_layers is not None:
    return bool(scan_layers)
  return not cpu_only(devices)


def cpu_only(devices) -> bool:
  """Whether every device is a CPU: where decoding unrolls its layers and slices their weights once."""
  return all(d.platform == "cpu" for d in devices)
