"""python -m meta_rfft.pipeline --config=configs/demo.py --workdir=runs/demo

The whole Meta-RFFT flow on a CPU in under 15 minutes: a small Qwen2-architecture model built locally (random
init, BPE tokenizer trained on the task text), converted in, RF-pretrained on six short-trace rf_pretrain
tasks, adapted to the held-out `nupa_length_integer` on lengths 1-5 (and, as the baseline, the base model
adapted the same way: vanilla RFFT), both evaluated on lengths 1-10, the Meta-RFFT model exported to HF and
checked in transformers. DIR/report.md holds the comparison. `--config.hf_checkpoint=PATH` starts from a real
HF checkpoint instead (then raise the steps, sequence length and lengths to the paper's: configs/rf_pretrain.py,
configs/adapt.py). Argument `tiny`: an even smaller, shorter run (the end-to-end test's).
"""
import ml_collections

from meta_rfft.config.defaults import mesh_section, model_section, sharding_section

VARIANTS = ("", "tiny")


def _stage(steps, batch_size, learning_rate, warmup_steps, adapter="none", rank=8):
  return ml_collections.ConfigDict(dict(steps=steps, batch_size=batch_size, learning_rate=learning_rate,
                                        warmup_steps=warmup_steps, adapter=adapter, rank=rank))


def get_config(arg=""):
  if arg not in VARIANTS:
    raise ValueError(f"configs/demo.py: unknown variant {arg!r}; choose from {VARIANTS}")
  c = ml_collections.ConfigDict()
  c.hf_checkpoint = ""  # a real HF folder to start from; "" = build a small Qwen2 model locally
  c.convert_dtype = ""  # stored dtype of the converted base; "" = the HF tensors' dtype
  c.seed = 0
  # Short traces keep CPU time small: nupa_length_integer at lengths 1-5 is ~50-170 tokens of trace.
  c.heldout_task = "nupa_length_integer"
  c.pretrain_tasks = "sr_last_letter_concat,bbh_reverse_list,lc_434,lc_485,lc_344,lc_2057"  # "" = all 74
  c.base = ml_collections.ConfigDict(dict(
      vocab_size=1024, hidden_size=128, num_layers=4, num_heads=4, num_kv_heads=2, intermediate_size=384,
      max_position_embeddings=2048, seed=0, tokenizer_lengths="1-8", tokenizer_per_length=10))
  c.data = ml_collections.ConfigDict(dict(
      seq_len=256, pretrain_lengths="1-5", pretrain_per_length=100, adapt_lengths="1-5", adapt_per_length=200,
      validation_per_length=1))
  c.pretrain = _stage(steps=300, batch_size=8, learning_rate=3e-3, warmup_steps=20)
  c.adapt = _stage(steps=250, batch_size=8, learning_rate=2e-3, warmup_steps=10)
  c.eval = ml_collections.ConfigDict(dict(lengths="1-10", samples_per_length=10, batch_size=32,
                                          max_new_factor=1.3, max_new_extra=16))
  c.hf_check_prompts = 4
  c.hf_check_new_tokens = 256
  c.checkpoint_every = 100
  c.log_every = 25
  c.model = model_section()
  c.model.dtype = "float32"
  c.mesh = mesh_section()
  c.sharding = sharding_section()
  if arg == "tiny":
    c.pretrain_tasks = "lc_344,lc_485"
    c.base.update(dict(vocab_size=400, hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=1,
                       intermediate_size=64, tokenizer_lengths="1-3", tokenizer_per_length=3))
    c.data.update(dict(seq_len=256, pretrain_lengths="1-2", pretrain_per_length=8, adapt_lengths="1-2",
                       adapt_per_length=8))
    c.pretrain = _stage(steps=4, batch_size=8, learning_rate=3e-3, warmup_steps=1)
    c.adapt = _stage(steps=3, batch_size=8, learning_rate=3e-3, warmup_steps=1, adapter="lora", rank=2)
    c.eval.update(dict(lengths="1-3", samples_per_length=2, batch_size=8))
    c.hf_check_prompts = 2
    c.hf_check_new_tokens = 16
    c.checkpoint_every = 0
    c.log_every = 1
  return c
