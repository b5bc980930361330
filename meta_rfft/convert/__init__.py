"""Hugging Face <-> Orbax conversion (streaming, one tensor at a time) and the logit checker.

CLI: `python -m meta_rfft.convert hf_to_orbax | orbax_to_hf | verify` (see README "Converting checkpoints").
"""
from meta_rfft.convert.checkpoint import load_params, read_param
from meta_rfft.convert.errors import ConversionError
from meta_rfft.convert.hf_to_orbax import hf_to_orbax
from meta_rfft.convert.sources import load_model, resolve

__all__ = ["ConversionError", "hf_to_orbax", "load_model", "load_params", "read_param", "resolve"]
