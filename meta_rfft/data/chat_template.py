"""A checkpoint's own chat template, read from its tokenizer files and rendered with Jinja.

Where the template lives (the same places, in the same order, as transformers looks):
  <tokenizer dir>/chat_template.jinja               what transformers >= 4.43 writes
  <tokenizer dir>/tokenizer_config.json "chat_template"   a string, or a list of {"name", "template"} (the
                                                    one named "default" is used)
The template sees what transformers gives it: `messages`, `add_generation_prompt`, `tools` and `documents` (None),
the special-token strings of tokenizer_config.json (else special_tokens_map.json: `bos_token`, `eos_token`,
`unk_token`, `pad_token`), plus `raise_exception` and `strftime_now`. `strftime_now` reads one fixed date (midnight
of it): the one given (a run's `data.chat_date`, which a trainer run records so that a resume on a later day renders
the same prompts), else today's. It is
rendered in Jinja's immutable sandbox with `trim_blocks` and `lstrip_blocks`, the settings chat templates are
written for; `tojson` keeps non-ASCII text and does not escape HTML, as there.
No per-family strings live here: the template is the model's own.
"""
from __future__ import annotations

import datetime
import functools
import json
from typing import Any, Mapping, Sequence

import jinja2
import jinja2.ext
import jinja2.sandbox

from meta_rfft import io_paths

TEMPLATE_FILE = "chat_template.jinja"
CONFIG_FILE = "tokenizer_config.json"
MAP_FILE = "special_tokens_map.json"
SPECIAL_KEYS = ("bos_token", "eos_token", "unk_token", "pad_token")
ROLES = ("system", "user", "assistant")


class ChatTemplateError(ValueError):
  """A template that cannot be read or rendered; the message names the file."""


class _Generation(jinja2.ext.Extension):
  """`{% generation %}...{% endgeneration %}` marks assistant text for transformers' assistant-token masks;
  here the body renders as is (which tokens carry loss is decided from the rendered prompt instead)."""
  tags = {"generation"}

  def parse(self, parser):
    lineno = next(parser.stream).lineno
    body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
    return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

  def _body(self, caller):
    return caller()


def _raise(message: str):
  raise jinja2.exceptions.TemplateError(message)


def _tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
  return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


@functools.lru_cache(maxsize=16)
def _compile(source: str, now: datetime.datetime) -> jinja2.Template:
  env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                     extensions=[_Generation, jinja2.ext.loopcontrols])
  env.filters["tojson"] = _tojson
  env.globals["raise_exception"] = _raise
  env.globals["strftime_now"] = now.strftime
  return env.from_string(source)


def parse_date(text: str) -> datetime.date:
  """A YYYY-MM-DD date; ValueError (the caller names its key) otherwise."""
  try:
    return datetime.date.fromisoformat(str(text))
  except ValueError:
    raise ValueError(f"must be a date written YYYY-MM-DD, got {text!r}") from None


def _read_json(path) -> dict:
  try:
    return json.loads(path.read_text(encoding="utf-8"))
  except json.JSONDecodeError as e:
    raise ChatTemplateError(f"{path}: not valid JSON ({e})") from None


def _token_text(value) -> str | None:
  return value.get("content") if isinstance(value, Mapping) else value


def read_template(folder) -> tuple[str, str] | None:
  """(template source, the file it came from) of the tokenizer files in `folder` (a local folder or a URL), or
  None if they carry none."""
  folder = io_paths.resolve(folder)
  path = folder / TEMPLATE_FILE
  if path.is_file():
    return path.read_text(encoding="utf-8"), str(path)
  config_path = folder / CONFIG_FILE
  if not config_path.is_file():
    return None
  value = _read_json(config_path).get("chat_template")
  if isinstance(value, list):
    named = {t.get("name"): t.get("template") for t in value if isinstance(t, Mapping)}
    if "default" not in named:
      raise ChatTemplateError(f"{config_path}: chat_template lists templates {sorted(map(str, named))} but none "
                              "is named 'default'")
    value = named["default"]
  if value is None:
    return None
  if not isinstance(value, str) or not value.strip():
    raise ChatTemplateError(f"{config_path}: chat_template must be a non-empty string, got {value!r:.80}")
  return value, f"{config_path} (chat_template)"


class ChatTemplate:
  """One compiled template with the special-token strings it is rendered with."""

  def __init__(self, source: str, origin: str, special_tokens: Mapping[str, str], date: str = ""):
    self.source, self.origin = source, origin
    self.special_tokens = dict(special_tokens)
    day = parse_date(date) if date else datetime.date.today()
    # Only a template that writes the date depends on it; then the date is part of what it renders.
    self.date = day.isoformat() if "strftime_now" in source else None
    now = datetime.datetime.combine(day, datetime.time())
    try:
      self._template = _compile(source, now)
    except jinja2.exceptions.TemplateSyntaxError as e:
      raise ChatTemplateError(f"{origin}: the chat template does not parse (line {e.lineno}: {e.message})") from None

  @classmethod
  def from_folder(cls, folder, date: str = "") -> "ChatTemplate | None":
    """The template of the tokenizer files in `folder` (a local folder or a URL; None if they carry none), with
    `date` (YYYY-MM-DD; "" = today) for a template that writes the date."""
    folder = io_paths.resolve(folder)
    found = read_template(folder)
    if found is None:
      return None
    special = {}
    for name in (MAP_FILE, CONFIG_FILE):  # tokenizer_config.json's entries win, as in transformers
      if (folder / name).is_file():
        config = _read_json(folder / name)
        special.update({k: _token_text(config[k]) for k in SPECIAL_KEYS if _token_text(config.get(k)) is not None})
    return cls(found[0], found[1], special, date)

  def render(self, messages: Sequence[Mapping[str, str]], add_generation_prompt: bool) -> str:
    """The chat as text, exactly as transformers' apply_chat_template(..., tokenize=False) renders it."""
    try:
      return self._template.render(messages=[dict(m) for m in messages], add_generation_prompt=add_generation_prompt,
                                   tools=None, documents=None, **self.special_tokens)
    except jinja2.exceptions.TemplateError as e:
      raise ChatTemplateError(f"{self.origin}: rendering the chat template failed: {e}") from None


def check_messages(messages: Any, where: str) -> list[dict[str, str]]:
  """A list of {"role", "content"} messages, roles in ROLES and contents strings; errors are prefixed `where`."""
  if not isinstance(messages, list) or not messages:
    raise ValueError(f"{where}: 'messages' must be a non-empty list, got {messages!r:.80}")
  out = []
  for i, m in enumerate(messages):
    if not isinstance(m, Mapping) or set(m) - {"role", "content"} or "role" not in m or "content" not in m:
      raise ValueError(f"{where}: messages[{i}] must be an object with exactly 'role' and 'content', got {m!r:.80}")
    if m["role"] not in ROLES:
      raise ValueError(f"{where}: messages[{i}].role must be one of {ROLES}, got {m['role']!r}")
    if not isinstance(m["content"], str):
      raise ValueError(f"{where}: messages[{i}].content must be a string, got {type(m['content']).__name__}")
    out.append({"role": m["role"], "content": m["content"]})
  return out
