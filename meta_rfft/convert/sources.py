"""Where a checkpoint's pieces are, for the three kinds of folder users pass, and loading a model from one.

- a converted checkpoint CKPT/ (meta_rfft.json, params/, hf/), written by `hf_to_orbax`;
- a trainer step WORKDIR/checkpoints/<step>/ (items params, optionally adapters, meta), HF files in
  WORKDIR/hf/;
- a trainer WORKDIR/: its latest complete step.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath
from flax import nnx

from meta_rfft import io_paths
from meta_rfft.convert.checkpoint import flatten, load_params, read_param, unflatten
from meta_rfft.convert.errors import ConversionError
from meta_rfft.model import adapters as adapters_lib
from meta_rfft.model.config import ModelConfig, from_hf_config, load_hf_config
from meta_rfft.model.decoder import Decoder
from meta_rfft.sharding.placement import abstract_with_shardings

# Orbax's marker of a finished step on an object store (orbax.checkpoint._src.path.atomicity_types).
_COMMIT_SUCCESS = "commit_success.txt"


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


def _complete_steps(ckpt_root: epath.Path) -> list[int]:
  # On local disk Orbax finalises a step by renaming its temporary folder to the bare step number. On an
  # object store (no renames) it writes into the bare step folder and adds commit_success.txt when done, so
  # there a step folder without that file is one still being (or never fully) written.
  remote = io_paths.is_url(ckpt_root)
  return sorted(int(p.name) for p in ckpt_root.iterdir()
                if p.name.isdigit() and (p / "params").is_dir()
                and (not remote or (p / _COMMIT_SUCCESS).exists()))


def _read_meta(step_dir: epath.Path) -> dict:
  meta_dir = step_dir / "meta"
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
  meta_file = root / "meta_rfft.json"
  if meta_file.exists():
    meta = io_paths.read_json(meta_file)
    return Source(os.fspath(root / "params"), os.fspath(root / "hf"), dtype=meta.get("dtype"))
  if (root / "checkpoints").is_dir():
    steps = _complete_steps(root / "checkpoints")
    if not steps:
      raise ConversionError(f"{name}/checkpoints holds no complete step (a numbered folder with params/)")
    return resolve(os.fspath(root / "checkpoints" / str(steps[-1])))
  if (root / "params").is_dir():
    hf_dir = root.parent.parent / "hf"
    if not (hf_dir / "config.json").exists():
      raise ConversionError(f"trainer step {name}: no HF config at {os.fspath(hf_dir)}/config.json (the "
                            f"trainer copies the HF config and tokenizer there)")
    meta = _read_meta(root)
    adapters_dir = root / "adapters"
    return Source(os.fspath(root / "params"), os.fspath(hf_dir),
                  adapters_dir=os.fspath(adapters_dir) if adapters_dir.is_dir() else None,
                  adapter_cfg=meta.get("adapter"))
  raise ConversionError(f"{name} is neither a converted checkpoint (meta_rfft.json), a trainer step folder "
                        f"(params/) nor a trainer WORKDIR (checkpoints/)")


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


def load_model(ckpt_dir: str, mesh: jax.sharding.Mesh, rules, *, seed: int = 0, **run_options) -> Decoder:
  """A Decoder with the checkpoint's weights, each param restored straight onto its sharding on `mesh`.

  `ckpt_dir`: converted checkpoint, trainer step or trainer WORKDIR. `run_options`: ModelConfig run fields
  (param_dtype, dtype, scan_layers, remat_policy); param_dtype defaults to a converted checkpoint's dtype.
  Trainer adapters, if present, are folded into the weights (the returned model has no adapters).
  """
  src = resolve(ckpt_dir)
  if src.dtype and "param_dtype" not in run_options:
    run_options["param_dtype"] = src.dtype
  try:
    cfg: ModelConfig = from_hf_config(src.hf_config(), **run_options)
  except ValueError as e:
    raise ConversionError(f"{src.hf_dir}/config.json: {e}") from e
  graphdef, target = abstract_with_shardings(lambda: Decoder(cfg, rngs=nnx.Rngs(seed)), mesh, rules)
  ad_cfg = adapter_config(src)
  if ad_cfg is None:
    state = load_params(src.params_dir, target)
    return nnx.merge(graphdef, state)
  # Adapters: fold each targeted kernel on the host (one param at a time), then place it on its sharding;
  # from a callback so that on several hosts each one puts only its own devices' slices.
  values = {}
  for k, t in flatten(target.to_pure_dict()).items():
    host = np.asarray(read_merged_param(src, k, ad_cfg)).astype(t.dtype)
    values[k] = jax.make_array_from_callback(t.shape, t.sharding, lambda index, host=host: host[index])
    del host
  state = jax.tree.map(lambda x: x, target)
  nnx.replace_by_pure_dict(state, unflatten(values))
  return nnx.merge(graphdef, state)
