"""Tiny local tokenizers carrying chat templates written in the style of three model families (a test helper,
importable from every test folder: tests/ is on the path as the root conftest's folder).

Nothing is downloaded: each is a byte-level BPE trained here on a few texts, with the family's control tokens
added as special tokens, saved by transformers (so the files are what a real checkpoint ships). The templates
are written for these tests in each family's manner:
  chatml   Qwen2.5: <|im_start|>role ... <|im_end|>, a default system message when none is given
  llama3   Llama-3: <|begin_of_text|>, <|start_header_id|>role<|end_header_id|>, trimmed content, <|eot_id|>
  llama31  Llama-3.1: the same tokens, a multi-line indented template, a default system message with JSON
  mistral  Mistral: <s>[INST] ... [/INST] answer</s>, a system message folded into the first user turn
`in_config=True` stores the template inside tokenizer_config.json (as older Hub checkpoints do) instead of
chat_template.jinja.
"""
import json
import pathlib

import tokenizers
from tokenizers import decoders, models, pre_tokenizers, trainers

CHATML = (
    "{%- if messages[0].role == 'system' %}{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>system\\nYou are a careful assistant.<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}{%- if message.role != 'system' %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")
LLAMA3 = (
    "{{- bos_token }}{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message.role + '<|end_header_id|>\\n\\n' + message.content | trim + '<|eot_id|>' }}"
    "{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{%- endif %}")
MISTRAL = (
    "{%- if messages[0].role == 'system' %}{%- set system = messages[0].content + '\\n\\n' %}"
    "{%- set chat = messages[1:] %}{%- else %}{%- set system = '' %}{%- set chat = messages %}{%- endif %}"
    "{{- bos_token }}{%- for message in chat %}{%- if message.role == 'user' %}"
    "{{- '[INST] ' + (system if loop.first else '') + message.content + ' [/INST]' }}"
    "{%- elif message.role == 'assistant' %}{{- ' ' + message.content + eos_token }}"
    "{%- else %}{{- raise_exception('roles must alternate user/assistant') }}{%- endif %}{%- endfor %}")

# Llama-3.1's manner: a multi-line template with indented block tags and no whitespace control, relying on
# trim_blocks / lstrip_blocks, writing JSON (non-ASCII kept) and the year through strftime_now.
LLAMA31 = """{{ bos_token }}
{% if messages[0]['role'] == 'system' %}
    {% set system = messages[0]['content'] %}
    {% set rest = messages[1:] %}
{% else %}
    {% set system = 'Environment: ' + ({'locale': 'fr-ÇA', 'year': strftime_now('%Y')} | tojson) %}
    {% set rest = messages %}
{% endif %}
<|start_header_id|>system<|end_header_id|>

{{ system }}<|eot_id|>
{% for message in rest %}
    <|start_header_id|>{{ message['role'] }}<|end_header_id|>

{{ message['content'] }}<|eot_id|>
{% endfor %}
{% if add_generation_prompt %}
    <|start_header_id|>assistant<|end_header_id|>

{% endif %}
"""

FAMILIES = {
    "chatml": dict(template=CHATML, special=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                   tokens=dict(eos_token="<|im_end|>", pad_token="<|endoftext|>"), end_of_turn="<|im_end|>"),
    "llama3": dict(template=LLAMA3, special=["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                             "<|end_header_id|>", "<|eot_id|>"],
                   tokens=dict(bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>"), end_of_turn="<|eot_id|>"),
    "llama31": dict(template=LLAMA31, special=["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                               "<|end_header_id|>", "<|eot_id|>"],
                    tokens=dict(bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>"), end_of_turn="<|eot_id|>"),
    "mistral": dict(template=MISTRAL, special=["<unk>", "<s>", "</s>", "[INST]", "[/INST]"],
                    tokens=dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>"), end_of_turn="</s>"),
}
TEXTS = ["What is 12 + 30? Follow the rule step by step.", "So the answer is 42", "system user assistant",
         "You are a careful assistant.", "Answer with the final number after ####."]


def build(family: str, folder: pathlib.Path, in_config: bool = False) -> pathlib.Path:
  """Writes the family's tokenizer files into `folder` (created) and returns it."""
  import transformers
  spec = FAMILIES[family]
  tok = tokenizers.Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=spec["special"],
                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
  tok.train_from_iterator(TEXTS * 4, trainer)
  fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, **spec["tokens"])
  fast.chat_template = spec["template"]
  folder.mkdir(parents=True, exist_ok=True)
  fast.save_pretrained(str(folder))
  if in_config:
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["chat_template"] = [{"name": "default", "template": (folder / "chat_template.jinja").read_text()}]
    config_path.write_text(json.dumps(config, indent=2))
    (folder / "chat_template.jinja").unlink()
  return folder
