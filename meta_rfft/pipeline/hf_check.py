"""The exported model, checked in transformers: it loads, its tokenizer encodes prompts as ours does, and
`generate(do_sample=False)` produces exactly the tokens our decoder produces from the trainer checkpoint."""
from __future__ import annotations

from typing import Sequence


def check_export(export_dir: str, ckpt: str, prompts: Sequence[str], max_new_tokens: int, mesh, rules,
                 vocab) -> dict:
  import torch
  import transformers

  from meta_rfft.convert.sources import load_model
  from meta_rfft.data.vocab import encode_texts
  from meta_rfft.evaluate.decode import GreedyDecoder

  bos = [] if vocab.bos_id is None else [vocab.bos_id]
  ours_prompts = [bos + ids for ids in encode_texts(vocab, list(prompts))]
  # The tokenizer.json exactly as the data pipeline reads it. (AutoTokenizer in transformers 5 maps model_type
  # qwen2 to Qwen2Tokenizer, which rebuilds the pre-tokenizer from Qwen's own regex instead of the file's.)
  tokenizer = transformers.PreTrainedTokenizerFast.from_pretrained(export_dir)
  hf_prompts = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
  hf_prompts = [bos + ids for ids in hf_prompts]
  same_tokenization = hf_prompts == ours_prompts

  model = load_model(ckpt, mesh, rules)
  decoder = GreedyDecoder(model, eos_ids=vocab.eos_id, pad_id=vocab.pad_id, batch_size=len(prompts), mesh=mesh,
                          rules=rules)
  ours = decoder.decode(ours_prompts, max_new_tokens)

  hf = transformers.AutoModelForCausalLM.from_pretrained(export_dir, dtype=torch.float32).eval()
  theirs = []
  for ids in hf_prompts:  # one prompt at a time: no padding, the plainest use of generate
    with torch.no_grad():
      out = hf.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                        max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=vocab.eos_id,
                        pad_token_id=vocab.pad_id)[0, len(ids):].tolist()
    if vocab.eos_id in out:
      out = out[:out.index(vocab.eos_id) + 1]
    theirs.append(out)
  same = [a == b for a, b in zip(ours, theirs)]
  return {"export_dir": export_dir, "prompts": len(prompts), "same_tokenization": same_tokenization,
          "same_greedy_tokens": all(same), "rows_equal": sum(same),
          "tokens_compared": sum(len(o) for o in ours), "passed": same_tokenization and all(same),
          "sample_output": vocab.decode([t for t in ours[0] if t != vocab.eos_id])[:400]}
