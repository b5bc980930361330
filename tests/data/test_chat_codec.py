"""The chat codec against transformers' apply_chat_template, token for token, on three families' templates."""
import json

import pytest
import tensorflow as tf

import chat_families
from meta_rfft.data import example_codec
from meta_rfft.data.chat_template import ChatTemplateError
from meta_rfft.data.vocab import CharVocabulary, HfTokenizerVocabulary

PAIRS = [("What is 12 + 30?\nFollow the rule.", "12 + 30 = 42\nSo the answer is 42"),
         ("  leading and trailing spaces  ", "  x  "),
         ("Ünïcödé ✓ and digits 0123456789", "#### 7")]
SYSTEMS = ["", "Answer with the final number after ####."]


@pytest.fixture(scope="module", params=sorted(chat_families.FAMILIES))
def family(request, tmp_path_factory):
  import transformers
  folder = chat_families.build(request.param, tmp_path_factory.mktemp(request.param))
  return request.param, folder, transformers.AutoTokenizer.from_pretrained(str(folder))


def _hf_ids(hf, messages, add_generation_prompt):
  return list(hf.apply_chat_template(messages, tokenize=True, add_generation_prompt=add_generation_prompt,
                                     return_dict=True)["input_ids"])


@pytest.mark.parametrize("system", SYSTEMS)
def test_pairs_match_apply_chat_template(family, system):
  name, folder, hf = family
  codec = example_codec.make_codec("auto", system, HfTokenizerVocabulary(folder))
  assert isinstance(codec, example_codec.ChatCodec)
  assert hf.convert_ids_to_tokens(codec.end_of_turn) == chat_families.FAMILIES[name]["end_of_turn"]
  for prompt, response in PAIRS:
    context = example_codec.user_turn(prompt, system)
    prompt_ids, target_ids = codec.pair_ids(prompt, response)
    assert prompt_ids == _hf_ids(hf, context, True)
    assert codec.prompt_ids(prompt) == prompt_ids
    whole = _hf_ids(hf, context + [{"role": "assistant", "content": response}], False)
    # The trained sequence is the whole chat through the assistant's end-of-turn token; what follows it, if
    # anything (ChatML's newline), is not part of the answer.
    assert whole[:len(prompt_ids) + len(target_ids)] == prompt_ids + target_ids
    assert target_ids[-1] == codec.end_of_turn and codec.end_of_turn not in target_ids[:-1]
    rest = hf.decode(whole[len(prompt_ids) + len(target_ids):])
    assert rest.strip() == ""
    assert response.strip() in hf.decode(target_ids)


def test_multi_turn_context_matches(family):
  _, folder, hf = family
  codec = example_codec.make_codec("hf", "", HfTokenizerVocabulary(folder))
  context = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 1 + 1?"},
             {"role": "assistant", "content": "2"}, {"role": "user", "content": "And 12 + 30?"}]
  prompt_ids, target_ids = codec.chat_ids(context, "42")
  assert prompt_ids == _hf_ids(hf, context, True)
  whole = _hf_ids(hf, context + [{"role": "assistant", "content": "42"}], False)
  assert whole[:len(prompt_ids) + len(target_ids)] == prompt_ids + target_ids


def test_graph_side_equals_python_side(family):
  _, folder, _ = family
  codec = example_codec.make_codec("hf", SYSTEMS[1], HfTokenizerVocabulary(folder))
  prompts, responses = [p for p, _ in PAIRS], [r for _, r in PAIRS]
  ds = tf.data.Dataset.from_tensor_slices((prompts, responses)).map(codec.encode_tf)
  contexts = [json.dumps(example_codec.user_turn(p, SYSTEMS[1])) for p in prompts]
  chats = tf.data.Dataset.from_tensor_slices((contexts, responses)).map(codec.encode_chat_tf)
  for (p, r), (cp, cr), (prompt, response) in zip(ds.as_numpy_iterator(), chats.as_numpy_iterator(), PAIRS):
    want = codec.pair_ids(prompt, response)
    assert (list(p), list(r)) == want == (list(cp), list(cr))
  assert codec.batch_prompt_ids(prompts) == [codec.prompt_ids(p) for p in prompts]


def test_template_inside_tokenizer_config(tmp_path):
  import transformers
  folder = chat_families.build("chatml", tmp_path / "cfg", in_config=True)
  assert not (folder / "chat_template.jinja").exists()
  hf = transformers.AutoTokenizer.from_pretrained(str(folder))
  codec = example_codec.make_codec("auto", "", HfTokenizerVocabulary(folder))
  assert "tokenizer_config.json" in codec.template.origin
  assert codec.prompt_ids("hi") == _hf_ids(hf, example_codec.user_turn("hi"), True)


def test_plain_codec_and_mode_choice(tmp_path, tokenizer_dir):
  char = example_codec.make_codec("auto", "", CharVocabulary())
  assert isinstance(char, example_codec.PlainCodec) and char.describe() is None
  assert char.pair_ids("ab", "c") == ([2, 3 + ord("a"), 3 + ord("b")], [3 + ord("c"), 1])
  plain = example_codec.make_codec("auto", "", HfTokenizerVocabulary(tokenizer_dir))  # no template in its files
  assert isinstance(plain, example_codec.PlainCodec)
  folder = chat_families.build("llama3", tmp_path / "llama3")
  assert isinstance(example_codec.make_codec("none", "", HfTokenizerVocabulary(folder)), example_codec.PlainCodec)
  with pytest.raises(ValueError, match=r"config.data.chat_template='hf' but the tokenizer files in .* carry no"):
    example_codec.make_codec("hf", "", HfTokenizerVocabulary(tokenizer_dir))
  with pytest.raises(ValueError, match=r"config.data.chat_template must be one of"):
    example_codec.make_codec("chatml", "", CharVocabulary())
  with pytest.raises(ValueError, match=r"config.data.system_prompt is set but there is no chat template"):
    example_codec.make_codec("none", "Be brief.", HfTokenizerVocabulary(folder))


def test_template_errors_name_the_file(tmp_path):
  folder = chat_families.build("chatml", tmp_path / "bad")
  # The generation prompt opens an assistant turn the rendered answer does not start with.
  (folder / "chat_template.jinja").write_text(
      "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
      "{% if add_generation_prompt %}<|im_start|>model\n{% endif %}")
  codec = example_codec.make_codec("hf", "", HfTokenizerVocabulary(folder))
  with pytest.raises(ChatTemplateError, match=r"chat_template.jinja: the chat rendered with its answer does not "
                                              r"start with the chat rendered for generation"):
    codec.pair_ids("q", "a")
  (folder / "chat_template.jinja").write_text("{% for m in messages %}{{ m.content }}{% endfor %}")
  with pytest.raises(ChatTemplateError, match=r"chat_template.jinja: the template writes no special token after"):
    example_codec.make_codec("hf", "", HfTokenizerVocabulary(folder))
  (folder / "chat_template.jinja").write_text("{% for m in messages %}")
  with pytest.raises(ChatTemplateError, match=r"chat_template.jinja: the chat template does not parse"):
    example_codec.make_codec("hf", "", HfTokenizerVocabulary(folder))


def test_training_rows_are_the_chat_with_loss_on_the_answer_only(data_cfg, tmp_path):
  from meta_rfft.data import pipeline
  vocab = HfTokenizerVocabulary(chat_families.build("chatml", tmp_path / "chatml"))
  cfg = data_cfg.copy_and_resolve_references()
  cfg.update(dict(chat_template="hf", system_prompt="Follow the rule.", mixture="lc_258", pack=False))
  codec = example_codec.codec_of(cfg, vocab)
  examples = list(pipeline.iterate_examples(cfg, vocab, task_id="lc_258", fmt="rf", split="validation"))
  it = pipeline.make_batch_iterator(cfg, vocab, seq_len=4096, host_batch_size=1, num_epochs=1, shuffle=False,
                                    split="validation")
  rows = list(it)
  assert len(rows) == len(examples) > 1
  for row, ex in zip(rows, examples):
    prompt, target = codec.pair_ids(ex["inputs"], ex["targets"])
    assert list(ex["prompt_tokens"]) == prompt and list(ex["target_tokens"]) == target
    n = int((row["segment_ids"][0] > 0).sum())
    seq = list(row["input_tokens"][0, :n]) + [int(row["target_tokens"][0, n - 1])]
    assert seq == prompt + target
    weights = row["loss_weights"][0, :n]
    # Position j predicts seq[j + 1]: exactly the assistant turn's tokens, its end-of-turn token included.
    assert list(weights) == [0.0] * (len(prompt) - 1) + [1.0] * len(target)
