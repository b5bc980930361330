"""GGUF (llama.cpp's file format) -> converted checkpoint: `python -m meta_rfft.convert gguf_to_orbax --gguf FILE
--out DIR`, the same checkpoint `hf_to_orbax` writes (CKPT/params, CKPT/hf with config.json, tokenizer.json,
tokenizer_config.json and the chat template, CKPT/meta_rfft.json).

The file is read with the `gguf` package (llama.cpp's reference reader, memory-mapped) and each tensor is
dequantized on its own as the conversion streams it (importer.convert: one layer's tensor, or one block of
vocabulary rows, at a time), by the package's numpy dequantizers: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
the K-quants (Q2_K to Q6_K) and the others it implements. llama.cpp's converter permutes the rows of Llama-family
query and key weights (to interleave RoPE's halves); that is undone here, giving HF's layout. The config and the
tokenizer (byte-level BPE with its merges, special tokens, pre-tokenizer and chat template) are rebuilt from the
file's metadata. An architecture, a tokenizer or a quantization not supported is refused by name, with nothing
written.
"""
from __future__ import annotations

import dataclasses
import json
import os

import gguf
import numpy as np
import tokenizers
from tokenizers import decoders, models, pre_tokenizers, processors

from meta_rfft.convert import importer
from meta_rfft.convert.errors import ConversionError
from meta_rfft.convert.files import check_output_free

# GGUF tensor names -> HF names, per supported architecture ({i}: the layer). Mistral GGUFs say "llama".
_LAYER = {
    "blk.{i}.attn_norm.weight": "model.layers.{i}.input_layernorm.weight",
    "blk.{i}.ffn_norm.weight": "model.layers.{i}.post_attention_layernorm.weight",
    "blk.{i}.attn_q.weight": "model.layers.{i}.self_attn.q_proj.weight",
    "blk.{i}.attn_k.weight": "model.layers.{i}.self_attn.k_proj.weight",
    "blk.{i}.attn_v.weight": "model.layers.{i}.self_attn.v_proj.weight",
    "blk.{i}.attn_output.weight": "model.layers.{i}.self_attn.o_proj.weight",
    "blk.{i}.ffn_gate.weight": "model.layers.{i}.mlp.gate_proj.weight",
    "blk.{i}.ffn_up.weight": "model.layers.{i}.mlp.up_proj.weight",
    "blk.{i}.ffn_down.weight": "model.layers.{i}.mlp.down_proj.weight",
    "blk.{i}.attn_q.bias": "model.layers.{i}.self_attn.q_proj.bias",
    "blk.{i}.attn_k.bias": "model.layers.{i}.self_attn.k_proj.bias",
    "blk.{i}.attn_v.bias": "model.layers.{i}.self_attn.v_proj.bias",
}
_GLOBAL = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
           "output.weight": "lm_head.weight"}
# architecture -> (HF model_type, HF class, whether llama.cpp permuted the query/key rows)
ARCHITECTURES = {"llama": ("llama", "LlamaForCausalLM", True), "qwen2": ("qwen2", "Qwen2ForCausalLM", False)}
# Byte-level BPE pre-tokenizers by tokenizer.ggml.pre: how text is split before the merges apply.
_LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")
_QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
                r"|\s+(?!\S)|\s+")


def _pre_tokenizer(pre: str | None):
  if pre in (None, "default", "gpt2", "gpt-2"):
    return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
  if pre == "smollm":  # digits one by one, then GPT-2's split
    return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
  split = {"llama-bpe": _LLAMA3_SPLIT, "llama3": _LLAMA3_SPLIT, "llama-v3": _LLAMA3_SPLIT, "qwen2": _QWEN2_SPLIT}
  if pre in split:
    return pre_tokenizers.Sequence([pre_tokenizers.Split(tokenizers.Regex(split[pre]), behavior="isolated"),
                                    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
  raise ConversionError(f"tokenizer.ggml.pre {pre!r} is not supported (supported: default/gpt2, smollm, llama-bpe, "
                        "qwen2)")


class GGUFFile:
  """A GGUF file's metadata and tensors, read lazily."""

  def __init__(self, path: str):
    if not os.path.isfile(path):
      raise ConversionError(f"--gguf {path}: no such file")
    try:
      self.reader = gguf.GGUFReader(path)
    except Exception as e:  # noqa: BLE001  (a truncated or foreign file: named, nothing written)
      raise ConversionError(f"--gguf {path}: not a readable GGUF file ({type(e).__name__}: {e})") from None
    self.path = path
    self.tensors = {t.name: t for t in self.reader.tensors}

  def field(self, key: str, default=None):
    f = self.reader.fields.get(key)
    return default if f is None else f.contents()

  def require(self, key: str):
    value = self.field(key)
    if value is None:
      raise ConversionError(f"{self.path}: metadata key {key} is missing")
    return value


@dataclasses.dataclass(frozen=True)
class Entry:
  """One tensor as the importer sees it: its HF name and shape (HF layout), read from the GGUF tensor `gguf_name`."""
  name: str
  gguf_name: str
  shape: tuple[int, ...]
  path: str
  dtype: np.dtype = np.dtype(np.float32)


class Reader:
  """Dequantizes a tensor (or a block of its rows) when the conversion reads it, in HF's layout."""

  def __init__(self, file: GGUFFile, permute: dict[str, int]):
    self.file, self.permute = file, permute  # permute: HF name -> heads of a permuted query/key weight

  def read(self, entry: Entry) -> np.ndarray:
    t = self.file.tensors[entry.gguf_name]
    x = _dequantize(t, t.data).reshape(entry.shape)
    if entry.name in self.permute:
      x = _unpermute(x, self.permute[entry.name])
    return x

  def read_rows(self, entry: Entry, r0: int, r1: int) -> np.ndarray:
    if entry.name in self.permute:
      return self.read(entry)[r0:r1]
    t = self.file.tensors[entry.gguf_name]
    return _dequantize(t, t.data[r0:r1]).reshape((r1 - r0, *entry.shape[1:]))


def _dequantize(t, data: np.ndarray) -> np.ndarray:
  try:
    return np.asarray(gguf.quants.dequantize(data, t.tensor_type), np.float32)
  except NotImplementedError:
    raise ConversionError(f"tensor {t.name}: quantization {t.tensor_type.name} has no dequantizer in the gguf "
                          "package") from None


def _unpermute(w: np.ndarray, heads: int) -> np.ndarray:
  """Undoes llama.cpp's row permutation of a query/key weight [heads * head_dim, hidden]."""
  half = w.shape[0] // heads // 2
  return w.reshape(heads, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def hf_config(f: GGUFFile) -> tuple[dict, bool]:
  """The config.json of the file's model, and whether its query/key rows are permuted."""
  arch = f.require("general.architecture")
  if arch not in ARCHITECTURES:
    raise ConversionError(f"{f.path}: general.architecture {arch!r} is not supported; supported: "
                          f"{sorted(ARCHITECTURES)}")
  model_type, hf_class, permuted = ARCHITECTURES[arch]
  if f.field(f"{arch}.rope.scaling.type") not in (None, "none") or "rope_freqs.weight" in f.tensors:
    raise ConversionError(f"{f.path}: RoPE scaling ({arch}.rope.scaling.type / rope_freqs) is not supported")
  hidden, heads = int(f.require(f"{arch}.embedding_length")), int(f.require(f"{arch}.attention.head_count"))
  tokens = f.require("tokenizer.ggml.tokens")
  config = {
      "model_type": model_type, "architectures": [hf_class],
      "vocab_size": int(f.field(f"{arch}.vocab_size", len(tokens))), "hidden_size": hidden,
      "intermediate_size": int(f.require(f"{arch}.feed_forward_length")),
      "num_hidden_layers": int(f.require(f"{arch}.block_count")), "num_attention_heads": heads,
      "num_key_value_heads": int(f.field(f"{arch}.attention.head_count_kv", heads)),
      "head_dim": int(f.field(f"{arch}.attention.key_length", hidden // heads)),
      "rms_norm_eps": float(f.require(f"{arch}.attention.layer_norm_rms_epsilon")),
      "rope_theta": float(f.field(f"{arch}.rope.freq_base", 10000.0)),
      "max_position_embeddings": int(f.field(f"{arch}.context_length", 4096)),
      "tie_word_embeddings": "output.weight" not in f.tensors,
      "bos_token_id": f.field("tokenizer.ggml.bos_token_id"), "eos_token_id": f.field("tokenizer.ggml.eos_token_id"),
      "pad_token_id": f.field("tokenizer.ggml.padding_token_id"), "torch_dtype": "float32"}
  return config, permuted


def tokenizer_files(f: GGUFFile) -> dict[str, str]:
  """tokenizer.json and tokenizer_config.json (with the chat template) rebuilt from the file's metadata."""
  kind = f.require("tokenizer.ggml.model")
  if kind != "gpt2":
    raise ConversionError(f"{f.path}: tokenizer.ggml.model {kind!r} is not supported (byte-level BPE, 'gpt2', is)")
  tokens = list(f.require("tokenizer.ggml.tokens"))
  types = list(f.field("tokenizer.ggml.token_type", [1] * len(tokens)))
  merges = [tuple(m.split(" ", 1)) for m in f.require("tokenizer.ggml.merges")]
  tok = tokenizers.Tokenizer(models.BPE({t: i for i, t in enumerate(tokens)}, merges, fuse_unk=False))
  tok.pre_tokenizer = _pre_tokenizer(f.field("tokenizer.ggml.pre"))
  tok.decoder = decoders.ByteLevel()
  # CONTROL tokens (type 3) are special, USER_DEFINED ones (type 4) are matched whole but not special.
  tok.add_special_tokens([tokenizers.AddedToken(t, special=True, normalized=False)
                          for t, kind_ in zip(tokens, types) if kind_ == 3])
  tok.add_tokens([tokenizers.AddedToken(t, special=False, normalized=False)
                  for t, kind_ in zip(tokens, types) if kind_ == 4])

  def token(key):
    i = f.field(key)
    return None if i is None else tokens[int(i)]
  bos, add_bos = token("tokenizer.ggml.bos_token_id"), bool(f.field("tokenizer.ggml.add_bos_token", False))
  if add_bos and bos is not None:
    tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                                       special_tokens=[(bos, tokens.index(bos))])
  config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": bos,
            "eos_token": token("tokenizer.ggml.eos_token_id"), "unk_token": token("tokenizer.ggml.unknown_token_id"),
            "pad_token": token("tokenizer.ggml.padding_token_id"), "add_bos_token": add_bos,
            "clean_up_tokenization_spaces": False}
  template = f.field("tokenizer.chat_template")
  if template:
    config["chat_template"] = template
  return {"tokenizer.json": tok.to_str(), "tokenizer_config.json": json.dumps(config, indent=2)}


def gguf_to_orbax(gguf_path: str, out: str, dtype: str | None = None) -> str:
  """Converts the GGUF file into the checkpoint folder `out` (created with its missing parents; must not exist);
  returns `out`. `dtype`: the stored params' (default float32: the dequantized values exactly)."""
  check_output_free(out)
  f = GGUFFile(gguf_path)
  config, permuted = hf_config(f)
  files = tokenizer_files(f)  # checked before anything is written
  entries, permute = {}, {}
  for name, t in f.tensors.items():
    hf_name = _GLOBAL.get(name)
    if hf_name is None:
      parts = name.split(".")
      if len(parts) < 3 or parts[0] != "blk" or not parts[1].isdigit():
        raise ConversionError(f"{gguf_path}: tensor {name} is not part of a {config['model_type']} model")
      template = _LAYER.get(".".join(["blk", "{i}", *parts[2:]]))
      if template is None:
        raise ConversionError(f"{gguf_path}: tensor {name} is not part of a {config['model_type']} model")
      hf_name = template.format(i=int(parts[1]))
    if not _supported(t):
      raise ConversionError(f"{gguf_path}: tensor {name} is quantized as {t.tensor_type.name}, which the gguf "
                            "package cannot dequantize")
    entries[hf_name] = Entry(hf_name, name, tuple(int(d) for d in reversed(t.shape.tolist())), gguf_path)
    if permuted and name.endswith((".attn_q.weight", ".attn_k.weight")):
      permute[hf_name] = config["num_attention_heads" if ".attn_q." in name else "num_key_value_heads"]

  def side_files(dest: str) -> None:
    os.makedirs(dest)
    for name, text in {**files, "config.json": json.dumps(config, indent=2),
                       "generation_config.json": json.dumps({k: config[k] for k in ("bos_token_id", "eos_token_id",
                                                                                     "pad_token_id")})}.items():
      with open(os.path.join(dest, name), "w", encoding="utf-8") as out_file:
        out_file.write(text)
  return importer.convert(config, entries, Reader(f, permute), out, dtype or "float32", source=gguf_path,
                          side_files=side_files)


def _supported(t) -> bool:
  """Whether the gguf package can dequantize the tensor's type (tried on its first block, nothing kept)."""
  try:
    gguf.quants.dequantize(t.data[:1], t.tensor_type)
    return True
  except NotImplementedError:
    return False
