"""How a prompt and its response become token ids: the one place training, evaluation and general data agree on.

`data.chat_template` picks the codec:
  none  `[BOS] + prompt` | `response + [EOS]`: the layout of the locally built models;
  hf    the tokenizer's own chat template (meta_rfft/data/chat_template.py): an optional system message
        (`data.system_prompt`), the prompt as the user turn, then the response as the assistant turn up to and
        including the template's end-of-turn token, where generation stops;
  auto  (the default) hf when the tokenizer files carry a template, else none.
In both, the prompt side is exactly what generation starts from and only the response side carries loss.

The chat rendering follows transformers' `apply_chat_template(..., tokenize=True)`: the chat is rendered as text
and the whole text tokenized without added special tokens (tests/data/test_chat_codec.py compares token for token).
The prompt is the chat rendered up to the assistant header (`add_generation_prompt=True`); its tokens must be a
prefix of the whole chat's tokens, else training and generation would see different prompts (a named error).
The end-of-turn token is read off the template itself: the first special token it writes after an assistant
message's text.
"""
from __future__ import annotations

import hashlib
import json
from typing import Mapping, Sequence

import numpy as np
import seqio
import tensorflow as tf

from meta_rfft.data import vocab as vocab_lib
from meta_rfft.data.chat_template import ChatTemplate, ChatTemplateError, parse_date

MODES = ("auto", "none", "hf")
_PROBE = "meta-rfft-probe-answer"


def user_turn(prompt: str, system_prompt: str = "") -> list[dict[str, str]]:
  """The chat of one rule-following prompt: an optional system message, then the prompt as the user turn."""
  return ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [
      {"role": "user", "content": prompt}]


class PlainCodec:
  """`[BOS] + prompt` | `response + [EOS]`; the graph side leaves BOS and EOS to the batch conversion."""

  mode = "none"

  def __init__(self, vocab: seqio.Vocabulary):
    self.vocab = vocab
    self.frame_bos = [] if vocab.bos_id is None else [int(vocab.bos_id)]
    self.frame_eos = [int(vocab.eos_id)]
    self.stop_ids = (int(vocab.eos_id),)

  def describe(self) -> dict | None:
    return None

  def prompt_ids(self, prompt: str) -> list[int]:
    return self.frame_bos + list(self.vocab.encode(prompt))

  def pair_ids(self, prompt: str, response: str) -> tuple[list[int], list[int]]:
    return self.prompt_ids(prompt), list(self.vocab.encode(response)) + self.frame_eos

  def batch_prompt_ids(self, prompts: Sequence[str]) -> list[list[int]]:
    return [self.frame_bos + ids for ids in vocab_lib.encode_texts(self.vocab, prompts)]

  def prompt_text(self, prompt: str) -> str:
    """The text the model is given for `prompt` (BOS aside)."""
    return prompt

  def encode_tf(self, prompt: tf.Tensor, response: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    return self.vocab.encode_tf(prompt), self.vocab.encode_tf(response)


class ChatCodec:
  """The tokenizer's chat template; the graph side gives complete ids (nothing is added around them)."""

  mode = "hf"

  def __init__(self, vocab: vocab_lib.HfTokenizerVocabulary, template: ChatTemplate, system_prompt: str = ""):
    self.vocab, self.template, self.system_prompt = vocab, template, str(system_prompt)
    self.frame_bos, self.frame_eos = [], []
    self.end_of_turn = self._end_of_turn()
    self.stop_ids = tuple(dict.fromkeys((self.end_of_turn, int(vocab.eos_id))))

  def _end_of_turn(self) -> int:
    # With the system prompt: a template that refuses a system message fails here, not inside the data pipeline.
    chat = user_turn("question", self.system_prompt) + [{"role": "assistant", "content": _PROBE}]
    text = self.template.render(chat, add_generation_prompt=False)
    if _PROBE not in text:
      raise ChatTemplateError(f"{self.template.origin}: the template does not write an assistant message's text")
    special = self.vocab.special_ids()
    after = self.vocab.encode(text[text.rindex(_PROBE) + len(_PROBE):])
    found = [i for i in after if i in special]
    if not found:
      raise ChatTemplateError(f"{self.template.origin}: the template writes no special token after an assistant "
                              "message, so there is no end-of-turn token to train on and stop at")
    return int(found[0])

  def describe(self) -> dict:
    out = {"template": hashlib.sha1(self.template.source.encode()).hexdigest()[:12], "system": self.system_prompt}
    if self.template.date:  # the template writes the date, which is then part of every prompt
      out["date"] = self.template.date
    return out

  def render_prompt(self, context: Sequence[Mapping[str, str]]) -> str:
    return self.template.render(context, add_generation_prompt=True)

  def chat_ids(self, context: Sequence[Mapping[str, str]], response: str) -> tuple[list[int], list[int]]:
    """(prompt ids, response ids through the end-of-turn token) of `context` answered by `response`."""
    prompt = self.render_prompt(context)
    whole = self.template.render(list(context) + [{"role": "assistant", "content": response}],
                                 add_generation_prompt=False)
    if not whole.startswith(prompt):
      raise ChatTemplateError(f"{self.template.origin}: the chat rendered with its answer does not start with the "
                              "chat rendered for generation, so the model would be trained on another prompt than "
                              "it is asked with")
    prompt_ids, ids = self.vocab.encode(prompt), self.vocab.encode(whole)
    if ids[:len(prompt_ids)] != prompt_ids:
      raise ChatTemplateError(f"{self.template.origin}: the prompt's tokens are not a prefix of the whole chat's "
                              f"tokens (the tokenizer merges across the assistant header) for {prompt[-60:]!r}")
    target = ids[len(prompt_ids):]
    if self.end_of_turn not in target:
      raise ChatTemplateError(f"{self.template.origin}: the assistant turn has no end-of-turn token "
                              f"{self.end_of_turn} for the response {response[:60]!r}")
    cut = target.index(self.end_of_turn) + 1
    if self.end_of_turn in self.vocab.encode(response):
      raise ValueError(f"the response contains the text of the end-of-turn token (id {self.end_of_turn}), which "
                       "would end the answer there")
    return prompt_ids, target[:cut]

  def prompt_ids(self, prompt: str) -> list[int]:
    return self.vocab.encode(self.render_prompt(user_turn(prompt, self.system_prompt)))

  def pair_ids(self, prompt: str, response: str) -> tuple[list[int], list[int]]:
    return self.chat_ids(user_turn(prompt, self.system_prompt), response)

  def batch_prompt_ids(self, prompts: Sequence[str]) -> list[list[int]]:
    return vocab_lib.encode_texts(self.vocab, [self.prompt_text(p) for p in prompts])

  def prompt_text(self, prompt: str) -> str:
    """The text the model is given for `prompt`: the rendered chat, system message included."""
    return self.render_prompt(user_turn(prompt, self.system_prompt))

  def _pair_np(self, prompt, response):
    p, r = self.pair_ids(prompt.decode("utf-8"), response.decode("utf-8"))
    return np.asarray(p, np.int32), np.asarray(r, np.int32)

  def _chat_np(self, context_json, response):
    p, r = self.chat_ids(json.loads(context_json.decode("utf-8")), response.decode("utf-8"))
    return np.asarray(p, np.int32), np.asarray(r, np.int32)

  @staticmethod
  def _graph(fn, a: tf.Tensor, b: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    # stateful=False: a pure function of its inputs, so tf.data can checkpoint iterators over it.
    p, r = tf.numpy_function(fn, [a, b], [tf.int32, tf.int32], stateful=False)
    p.set_shape([None])
    r.set_shape([None])
    return p, r

  def encode_tf(self, prompt: tf.Tensor, response: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    return self._graph(self._pair_np, prompt, response)

  def encode_chat_tf(self, context_json: tf.Tensor, response: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """A stored chat: `context_json` is the JSON list of the messages before the trained assistant turn."""
    return self._graph(self._chat_np, context_json, response)


def make_codec(mode: str, system_prompt: str, vocab: seqio.Vocabulary, key: str = "config.data", date: str = ""):
  """The codec of `{key}.chat_template` = `mode` with `{key}.system_prompt` and `{key}.chat_date` = `date` (the
  date a template that writes one renders; "" = today); errors name the key at fault."""
  mode = str(mode or "auto")
  if mode not in MODES:
    raise ValueError(f"{key}.chat_template must be one of {MODES}, got {mode!r}")
  if date:
    try:
      parse_date(date)
    except ValueError as e:
      raise ValueError(f"{key}.chat_date {e}") from None
  template = None
  if isinstance(vocab, vocab_lib.HfTokenizerVocabulary):
    template = ChatTemplate.from_folder(vocab.path.parent, str(date or ""))
  if mode == "hf" and template is None:
    where = f"the tokenizer files in {vocab.path.parent}" if isinstance(
        vocab, vocab_lib.HfTokenizerVocabulary) else "the character vocabulary"
    raise ValueError(f"{key}.chat_template='hf' but {where} carry no chat template (chat_template.jinja or "
                     "tokenizer_config.json's chat_template); use 'none'")
  if mode == "none" or template is None:
    if system_prompt:
      raise ValueError(f"{key}.system_prompt is set but there is no chat template to put it in "
                       f"({key}.chat_template={mode!r}); set {key}.chat_template='hf' with a tokenizer that has one")
    return PlainCodec(vocab)
  return ChatCodec(vocab, template, system_prompt)


def codec_of(data_cfg: Mapping, vocab: seqio.Vocabulary, key: str = "config.data"):
  """The codec a data config trains with (`chat_template`, `system_prompt`, `chat_date`; absent keys mean auto,
  none and today)."""
  return make_codec(str(data_cfg.get("chat_template", "auto") or "auto"), str(data_cfg.get("system_prompt", "")),
                    vocab, key, str(data_cfg.get("chat_date", "") or ""))
