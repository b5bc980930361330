"""`python -m meta_rfft.convert hf_to_orbax | gguf_to_orbax | orbax_to_hf | verify` (flags: --help on each
command)."""
from __future__ import annotations

import argparse
import json

from meta_rfft import cli, io_paths
from meta_rfft.convert.errors import ConversionError
from meta_rfft.convert.exporter import orbax_to_hf
from meta_rfft.convert.gguf_import import gguf_to_orbax
from meta_rfft.convert.importer import hf_to_orbax
from meta_rfft.convert.verify import verify


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="python -m meta_rfft.convert", description=__doc__)
  sub = p.add_subparsers(dest="command", required=True)
  a = sub.add_parser("hf_to_orbax", help="HF folder -> converted Orbax checkpoint (streaming)")
  a.add_argument("--hf_dir", required=True, help="folder with config.json, *.safetensors, tokenizer files")
  a.add_argument("--out", required=True, help="checkpoint folder to create (must not exist)")
  a.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default=None,
                 help="stored param dtype (default: the HF tensors' dtype)")
  g = sub.add_parser("gguf_to_orbax", help="GGUF file (llama.cpp) -> converted Orbax checkpoint, dequantized")
  g.add_argument("--gguf", required=True, help="a .gguf file (llama or qwen2 architecture, byte-level BPE tokenizer)")
  g.add_argument("--out", required=True, help="checkpoint folder to create (must not exist; parents are created)")
  g.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default=None,
                 help="stored param dtype (default: float32, the dequantized values exactly)")
  b = sub.add_parser("orbax_to_hf", help="converted checkpoint / trainer step / trainer WORKDIR -> HF folder")
  b.add_argument("--ckpt", required=True)
  b.add_argument("--out", required=True, help="HF folder to create (must not exist)")
  b.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default=None,
                 help="exported dtype (default: the dtype of the original config.json, else float32)")
  b.add_argument("--max_shard_size", default="5GB", help="largest safetensors file, e.g. 5GB, 500MB")
  v = sub.add_parser("verify", help="compare our logits with transformers' on the same prompts")
  v.add_argument("--hf_dir", required=True)
  v.add_argument("--ckpt", required=True)
  v.add_argument("--prompts", nargs="*", default=None, help="texts (tokenized with the HF tokenizer)")
  v.add_argument("--num_random", type=int, default=4, help="random token rows when no --prompts")
  v.add_argument("--length", type=int, default=32, help="longest random row")
  v.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32")
  v.add_argument("--atol", type=float, default=None,
                 help="largest allowed max |logit difference| (default: 1e-3 in float32; in bfloat16 and float16 "
                      "none: they round logits by ~1e-2 of their size, so the pass rule is top-1 agreement alone)")
  v.add_argument("--min_top1", type=float, default=0.99, help="smallest allowed top-1 agreement")
  return p


def main(argv: list[str] | None = None) -> int:
  args = _parser().parse_args(argv)
  try:
    # The safetensors side (reading HF folders, writing checkpoints and HF folders) knows local files only;
    # checkpoints in a bucket are read natively by meta_rfft/convert/sources.py (evaluation, load_model).
    local_only = {"hf_to_orbax": ("hf_dir", "out"), "gguf_to_orbax": ("gguf", "out"), "orbax_to_hf": ("ckpt", "out"),
                  "verify": ("hf_dir", "ckpt")}[args.command]
    for flag in local_only:
      value = getattr(args, flag)
      if io_paths.is_url(value):
        raise ConversionError(f"--{flag}={value!r}: `{args.command}` reads and writes local folders only "
                              f"(the safetensors and HF files are handled with local file I/O); copy it to "
                              f"local disk first (gcloud storage cp -r)")
    if args.command == "hf_to_orbax":
      print(hf_to_orbax(args.hf_dir, args.out, dtype=args.dtype))
    elif args.command == "gguf_to_orbax":
      print(gguf_to_orbax(args.gguf, args.out, dtype=args.dtype))
    elif args.command == "orbax_to_hf":
      print(orbax_to_hf(args.ckpt, args.out, dtype=args.dtype, max_shard_size=args.max_shard_size))
    else:
      result = verify(args.hf_dir, args.ckpt, prompts=args.prompts, num_random=args.num_random,
                      length=args.length, dtype=args.dtype)
      atol = args.atol if args.atol is not None else (1e-3 if args.dtype == "float32" else None)
      ok = result.passed(atol, args.min_top1)
      print(json.dumps({**result.__dict__, "atol": atol, "min_top1": args.min_top1, "passed": ok}, indent=2))
      return 0 if ok else 1
  except (ConversionError, ValueError, FileNotFoundError) as e:  # bad input, named in the message
    return cli.fail(str(e))
  return cli.EXIT_OK


if __name__ == "__main__":
  cli.entry(main)
