"""The exported model, checked in transformers: it loads, its tokenizer encodes prompts as ours does, and its
greedy tokens are exactly the tokens our decoder produces from the trainer checkpoint.

With contiguous position ids transformers runs its own `generate(do_sample=False)`. A model trained on
randomized position ids (data.positions=random) is decoded with drawn ids, which `generate` cannot take, so
transformers then runs a plain greedy loop over its KV cache with those same ids as `position_ids`."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from meta_rfft.convert.sources import load_model
from meta_rfft.data.positions import sequence_positions
from meta_rfft.data.vocab import encode_texts
from meta_rfft.evaluate.decode import GreedyDecoder


def _hf_generate(hf, ids: list[int], max_new_tokens: int, eos_id: int, pad_id: int) -> list[int]:
  import torch  # the test extra (torch, transformers): only this check needs it
  with torch.no_grad():  # one prompt at a time: no padding, the plainest use of generate
    return hf.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                       max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eos_id,
                       pad_token_id=pad_id)[0, len(ids):].tolist()


def _hf_greedy_at(hf, ids: list[int], position_ids: np.ndarray, max_new_tokens: int, eos_id: int) -> list[int]:
  """Greedy decoding in transformers with explicit position ids (prompt, then each generated token)."""
  import torch  # the test extra (torch, transformers): only this check needs it
  out, past = [], None
  tokens, pos = list(ids), position_ids[:len(ids)]
  with torch.no_grad():
    for k in range(max_new_tokens):
      result = hf(input_ids=torch.tensor([tokens]), position_ids=torch.tensor([pos], dtype=torch.long),
                  past_key_values=past, use_cache=True)
      past = result.past_key_values
      tok = int(torch.argmax(result.logits[0, -1]))
      out.append(tok)
      if tok == eos_id:
        break
      tokens, pos = [tok], position_ids[len(ids) + k:len(ids) + k + 1]
  return out


def check_export(export_dir: str, ckpt, prompts: Sequence[str], max_new_tokens: int, mesh, rules,
                 vocab, positions: str = "contiguous", position_range: int = 0) -> dict:
  import torch  # the test extra (torch, transformers): only this check needs it
  import transformers


  bos = [] if vocab.bos_id is None else [vocab.bos_id]
  ours_prompts = [bos + ids for ids in encode_texts(vocab, list(prompts))]
  # The tokenizer.json exactly as the data pipeline reads it. (AutoTokenizer in transformers 5 maps model_type
  # qwen2 to Qwen2Tokenizer, which rebuilds the pre-tokenizer from Qwen's own regex instead of the file's.)
  tokenizer = transformers.PreTrainedTokenizerFast.from_pretrained(export_dir)
  hf_prompts = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
  hf_prompts = [bos + ids for ids in hf_prompts]
  same_tokenization = hf_prompts == ours_prompts

  ids = [sequence_positions(positions, len(p) + max_new_tokens, position_range, (i,))
         for i, p in enumerate(ours_prompts)]
  model = load_model(ckpt, mesh, rules)
  decoder = GreedyDecoder(model, eos_ids=vocab.eos_id, pad_id=vocab.pad_id, batch_size=len(prompts), mesh=mesh,
                          rules=rules)
  ours = decoder.decode(ours_prompts, max_new_tokens, ids)

  hf = transformers.AutoModelForCausalLM.from_pretrained(export_dir, dtype=torch.float32).eval()
  theirs = []
  for p, row_ids in zip(hf_prompts, ids):
    out = (_hf_generate(hf, p, max_new_tokens, vocab.eos_id, vocab.pad_id) if positions == "contiguous"
           else _hf_greedy_at(hf, p, row_ids, max_new_tokens, vocab.eos_id))
    if vocab.eos_id in out:
      out = out[:out.index(vocab.eos_id) + 1]
    theirs.append(out)
  same = [a == b for a, b in zip(ours, theirs)]
  return {"export_dir": export_dir, "prompts": len(prompts), "positions": positions,
          "same_tokenization": same_tokenization, "same_greedy_tokens": all(same), "rows_equal": sum(same),
          "tokens_compared": sum(len(o) for o in ours), "passed": same_tokenization and all(same),
          "sample_output": vocab.decode([t for t in ours[0] if t != vocab.eos_id])[:400]}
