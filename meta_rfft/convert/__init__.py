"""Hugging Face <-> Orbax conversion (streaming, one tensor block at a time) and the logit checker.

CLI: `python -m meta_rfft.convert hf_to_orbax | orbax_to_hf | verify` (see docs/converting.md).
"""
from meta_rfft.convert.checkpoint import load_params, read_param
from meta_rfft.convert.errors import ConversionError
from meta_rfft.convert.exporter import orbax_to_hf
from meta_rfft.convert.importer import hf_to_orbax
from meta_rfft.convert.sources import Source, load_model, resolve
from meta_rfft.convert.verify import VerifyResult, verify

__all__ = ["ConversionError", "Source", "VerifyResult", "hf_to_orbax", "load_model", "load_params",
           "orbax_to_hf", "read_param", "resolve", "verify"]
