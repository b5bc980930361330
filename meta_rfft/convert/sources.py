"""Which checkpoint a folder a user passes holds, and loading a model from it.

Three kinds of folder (laid out in meta_rfft/layouts.py): a converted checkpoint, a trainer step, or a trainer
WORKDIR, which stands for its latest complete step.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

from meta_rfft import io_paths, layouts
from meta_rfft.convert.checkpoint import flatten, load_params, read_param, unflatten
from meta_rfft.convert.errors import ConversionError
from meta_rfft.model import adapters as adapters_lib
from meta_rfft.model.config import ModelConfig, from_hf_config, load_hf_config
from meta_rfft.model.decoder import Decoder
from meta_rfft.sharding.placement import abstract_with_shardings

@dataclasses.dataclass(frozen=True)
class Source:
  """Folders as strings: absolute local paths, or URLs (gs://...) read through etils.epath / Orbax."""
  params_dir: str
  hf_dir: str
  adapters_dir: str | None = None
  adapter_cfg: dict | None = None   # the `adapter` block stored in the trainer's meta item
  dtype: str | None = None          # the stored dtype of a converted checkpoint

  def hf_config(self) -> dict:
    return load_hf_config(io_paths.join(self.hf_dir, "config.json"))


def _read_meta(step: layouts.Step) -> dict:
  meta_dir = step.item("meta")
  if not meta_dir.is_dir():
    return {}
  with ocp.Checkpointer(ocp.JsonCheckpointHandler()) as ckptr:
    return dict(ckptr.restore(meta_dir) or {})


def resolve(path: str) -> Source:
  """The Source of a converted checkpoint, trainer step folder or trainer WORKDIR (latest complete step).

  `path`: a local folder or an object-store URL (gs://bucket/...): everything here, and Orbax's restore, reads
  through etils.epath / TensorStore, which know both."""
  root = io_paths.resolve(path)
  name = os.fspath(root)
  if not root.is_dir():
    raise ConversionError(f"checkpoint {name} does not exist")
  converted, workdir, step = layouts.Converted(root), layouts.Workdir(root), layouts.Step(root)
  if converted.exists():
    meta = io_paths.read_json(converted.meta)
    return Source(os.fspath(converted.params), os.fspath(converted.hf), dtype=meta.get("dtype"))
  if workdir.checkpoints.is_dir():
    steps = workdir.complete_steps()
    if not steps:
      raise ConversionError(f"{os.fspath(workdir.checkpoints)} holds no complete step (a numbered folder with "
                            f"params/)")
    return resolve(os.fspath(workdir.step(steps[-1]).root))
  if step.exists():
    hf_dir = step.workdir.hf
    if not (hf_dir / "config.json").exists():
      raise ConversionError(f"trainer step {name}: no HF config at {os.fspath(hf_dir)}/config.json (the "
                            f"trainer copies the HF config and tokenizer there)")
    meta = _read_meta(step)
    adapters_dir = step.item("adapters")
    return Source(os.fspath(step.item("params")), os.fspath(hf_dir),
                  adapters_dir=os.fspath(adapters_dir) if adapters_dir.is_dir() else None,
                  adapter_cfg=meta.get("adapter"))
  raise ConversionError(f"{name} is neither a converted checkpoint ({layouts.CONVERTED_META}), a trainer step "
                        f"folder (params/) nor a trainer WORKDIR (checkpoints/)")


def adapter_config(src: Source) -> dict | None:
  """The adapter settings to fold in, or None for plain params."""
  if src.adapters_dir is None:
    return None
  if not src.adapter_cfg or src.adapter_cfg.get("method", "none") == "none":
    raise ConversionError(f"{src.adapters_dir}: adapters saved but the step's meta item has no `adapter` "
                          f"settings (method, rank, alpha, targets) to fold them in with")
  return dict(src.adapter_cfg)


def adapted_targets(dotted: str, adapter_cfg: dict | None) -> list[str]:
  """The adapter targets (e.g. ["q"]) whose adapter folds into param `dotted`; [] for most params."""
  if adapter_cfg is None or not dotted.endswith(".kernel"):
    return []
  module_path = tuple(dotted.split(".")[:-1])
  return [t for t, p in adapters_lib.TARGETS.items() if p == module_path and t in adapter_cfg["targets"]]


def read_merged_param(src: Source, dotted: str, adapter_cfg: dict | None) -> Any:
  """One param (whole), with its adapter (if any) folded in via meta_rfft.model.adapters.merge_adapters."""
  value = read_param(src.params_dir, dotted)
  targets = adapted_targets(dotted, adapter_cfg)
  if not targets:
    return value
  module_path = tuple(dotted.split(".")[:-1])
  a = read_param(src.adapters_dir, ".".join(module_path + ("adapter", "a")))
  b = read_param(src.adapters_dir, ".".join(module_path + ("adapter", "b")))
  # merge_adapters on a one-projection tree: the same arithmetic as the trainer, without the whole model.
  one_cfg = {**adapter_cfg, "targets": tuple(targets)}
  merged = adapters_lib.merge_adapters(unflatten({dotted: value}),
                                       unflatten({".".join(module_path + ("adapter", "a")): a,
                                                  ".".join(module_path + ("adapter", "b")): b}), one_cfg)
  return jax.device_get(flatten(merged)[dotted])


def load_model(ckpt: "str | Source", mesh: jax.sharding.Mesh, rules, *, seed: int = 0, **run_options) -> Decoder:
  """A Decoder with the checkpoint's weights, each param restored straight onto its sharding on `mesh`.

  `ckpt`: a converted checkpoint, trainer step or trainer WORKDIR folder, or the Source `resolve` made of one (a
  caller that has resolved it already passes that, so that it is resolved once). `run_options`: RunOptions
  fields (param_dtype, dtype, scan_layers, remat_policy); param_dtype defaults to a converted checkpoint's dtype.
  Trainer adapters, if present, are folded into the weights (the returned model has no adapters).
  """
  src = ckpt if isinstance(ckpt, Source) else resolve(ckpt)
  if src.dtype and "param_dtype" not in run_options:
    run_options["param_dtype"] = src.dtype
  try:
    cfg: ModelConfig = from_hf_config(src.hf_config(), **run_options)
  except ValueError as e:
    raise ConversionError(f"{src.hf_dir}/config.json: {e}") from e
  graphdef, target = abstract_with_shardings(lambda: Decoder(cfg, rngs=nnx.Rngs(seed)), mesh, rules)
  state = jax.tree.map(lambda x: x, target)
  nnx.replace_by_pure_dict(state, restore_params(src, target.to_pure_dict()))
  return nnx.merge(graphdef, state)


def restore_params(src: Source, target: dict) -> dict:
  """The params of `src` as a pure dict like `target` (ShapeDtypeStructs with shardings), each restored straight
  onto its sharding and dtype; trainer adapters, if present, are folded into their kernels."""
  ad_cfg = adapter_config(src)
  if ad_cfg is None:
    return load_params(src.params_dir, target)
  # Adapters: fold each targeted kernel on the host (one param at a time), then place it on its sharding;
  # from a callback so that on several hosts each one puts only its own devices' slices.
  values = {}
  for k, t in flatten(target).items():
    host = np.asarray(read_merged_param(src, k, ad_cfg)).astype(t.dtype)
    values[k] = jax.make_array_from_callback(t.shape, t.sharding, lambda index, host=host: host[index])
    del host
  return unflatten(values)
