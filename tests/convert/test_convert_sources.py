"""Input and output variants: sharded HF folders, bf16/f16, trainer checkpoints with adapters, verify."""
import copy
import json
import os

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
import torch
import transformers
from convert_helpers import hf_logits, random_model, save_hf, state_dict_np, tokens

from meta_rfft.convert import hf_to_orbax, importer, load_model, orbax_to_hf, read_param
from meta_rfft.convert.__main__ import main
from meta_rfft.convert.checkpoint import open_param, param_shapes
from meta_rfft.sharding.mesh import make_mesh
from meta_rfft.sharding.rules import DEFAULT_RULES


@pytest.fixture(scope="module")
def qwen(tmp_path_factory):
  root = tmp_path_factory.mktemp("sources")
  model = random_model("qwen2_untied", seed=3)
  single = save_hf(model, str(root / "single"))
  sharded = save_hf(model, str(root / "sharded"), max_shard_size="40KB")
  return dict(root=root, model=model, single=single, sharded=sharded,
              ckpt=hf_to_orbax(single, str(root / "ckpt_single")))


def test_sharded_folder_converts_like_a_single_file(qwen, monkeypatch):
  files = [n for n in os.listdir(qwen["sharded"]) if n.endswith(".safetensors")]
  assert len(files) > 2 and os.path.exists(os.path.join(qwen["sharded"], "model.safetensors.index.json"))
  # Also streams the embedding and LM head in several blocks of rows (96 rows of 128 bytes: 8 blocks).
  monkeypatch.setattr(importer, "BLOCK_BYTES", 12 * 128)
  ckpt = hf_to_orbax(qwen["sharded"], str(qwen["root"] / "ckpt_sharded"))
  assert open_param(os.path.join(ckpt, "params"), "lm_head").chunk_layout.read_chunk.shape == (32, 12)
  shapes = param_shapes(os.path.join(ckpt, "params"))
  assert shapes == param_shapes(os.path.join(qwen["ckpt"], "params"))
  for name in shapes:
    np.testing.assert_array_equal(read_param(os.path.join(ckpt, "params"), name),
                                  read_param(os.path.join(qwen["ckpt"], "params"), name), err_msg=name)


def test_export_shards_with_index(qwen):
  out = orbax_to_hf(qwen["ckpt"], str(qwen["root"] / "export_sharded"), max_shard_size="30KB")
  with open(os.path.join(out, "model.safetensors.index.json")) as f:
    index = json.load(f)
  files = sorted(set(index["weight_map"].values()))
  assert len(files) > 2 and all(os.path.getsize(os.path.join(out, n)) < 30_000 + 4096 for n in files)
  back = transformers.AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
  want, got = state_dict_np(qwen["model"]), state_dict_np(back)
  assert sorted(got) == sorted(want) and all(np.array_equal(got[k], want[k]) for k in want)


@pytest.mark.parametrize("family", ["qwen3_untied", "gemma3"])
def test_bfloat16_roundtrip_is_exact_for_the_newer_families(family, tmp_path):
  bf16 = save_hf(random_model(family, seed=4).to(torch.bfloat16), str(tmp_path / "bf16"))
  out = orbax_to_hf(hf_to_orbax(bf16, str(tmp_path / "ckpt")), str(tmp_path / "export"), dtype="bfloat16")
  want = transformers.AutoModelForCausalLM.from_pretrained(bf16).state_dict()
  got = transformers.AutoModelForCausalLM.from_pretrained(out).state_dict()
  assert sorted(got) == sorted(want)
  for k, v in got.items():
    assert v.dtype == torch.bfloat16 and torch.equal(v, want[k]), k


def test_bfloat16_roundtrip_is_exact_and_float16_loads(qwen):
  root = qwen["root"]
  bf16 = save_hf(copy.deepcopy(qwen["model"]).to(torch.bfloat16), str(root / "bf16"))
  ckpt = hf_to_orbax(bf16, str(root / "ckpt_bf16"))  # keeps the source dtype by default
  with open(os.path.join(ckpt, "meta_rfft.json")) as f:
    assert json.load(f)["dtype"] == "bfloat16"
  out = orbax_to_hf(ckpt, str(root / "export_bf16"), dtype="bfloat16")
  want = transformers.AutoModelForCausalLM.from_pretrained(bf16).state_dict()
  back = transformers.AutoModelForCausalLM.from_pretrained(out)
  with open(os.path.join(out, "config.json")) as f:
    assert json.load(f)["dtype"] == "bfloat16"
  for k, v in back.state_dict().items():
    assert v.dtype == torch.bfloat16 and torch.equal(v, want[k]), k
  half = orbax_to_hf(qwen["ckpt"], str(root / "export_f16"), dtype="float16")
  back = transformers.AutoModelForCausalLM.from_pretrained(half)
  got = back.state_dict()["model.layers.0.mlp.up_proj.weight"]
  assert got.dtype == torch.float16
  np.testing.assert_array_equal(got.float().numpy(), state_dict_np(qwen["model"])[
      "model.layers.0.mlp.up_proj.weight"].astype(np.float16).astype(np.float32))


def _trainer_workdir(qwen, name, adapter_cfg, adapters):
  """A WORKDIR laid out as the trainer writes it (meta_rfft/train/checkpointing.py):
  checkpoints/<step>/{params, adapters (if any), opt_state, meta} and hf/ with the config and tokenizer (the
  `data` item is left out: loading and export never read it)."""
  workdir = qwen["root"] / name
  params = read_all(qwen["ckpt"])
  mngr = ocp.CheckpointManager(str(workdir / "checkpoints"))
  opt_state = {"0": np.ones((3,), np.float32)}  # must never be exported
  for step in (10, 20):
    items = dict(params=ocp.args.StandardSave(params), opt_state=ocp.args.StandardSave(opt_state),
                 meta=ocp.args.JsonSave({"step": step, "adapter": adapter_cfg}))
    if adapters:
      items["adapters"] = ocp.args.StandardSave(adapters)
    mngr.save(step, args=ocp.args.Composite(**items))
  mngr.wait_until_finished()
  mngr.close()
  os.makedirs(workdir / "hf")
  for name in os.listdir(os.path.join(qwen["ckpt"], "hf")):
    with open(os.path.join(qwen["ckpt"], "hf", name), "rb") as a, open(workdir / "hf" / name, "wb") as b:
      b.write(a.read())
  return str(workdir)


def read_all(ckpt):
  from meta_rfft.convert.checkpoint import unflatten
  params_dir = os.path.join(ckpt, "params")
  return unflatten({k: read_param(params_dir, k) for k in param_shapes(params_dir)})


def test_trainer_checkpoint_full_finetune(qwen):
  workdir = _trainer_workdir(qwen, "workdir_full", {"method": "none"}, None)
  mesh = make_mesh((1, 2, 2), devices=jax.devices()[:4])
  ours = load_model(workdir, mesh, DEFAULT_RULES)  # latest step, restored onto the mesh by load_params
  toks = tokens()
  np.testing.assert_allclose(np.asarray(ours(toks)[0]), hf_logits(qwen["model"], toks), atol=1e-4, rtol=0)
  out = orbax_to_hf(os.path.join(workdir, "checkpoints", "10"), str(qwen["root"] / "export_full"))
  back = transformers.AutoModelForCausalLM.from_pretrained(out)
  want, got = state_dict_np(qwen["model"]), state_dict_np(back)
  assert sorted(got) == sorted(want) and all(np.array_equal(got[k], want[k]) for k in want)


def test_trainer_checkpoint_with_lora_adapters_exports_merged(qwen):
  rng = np.random.default_rng(5)
  rank, alpha, layers = 2, 6.0, 2
  ad = {"layers": {"attn": {"q_proj": {"adapter": {
            "a": rng.normal(size=(layers, 32, rank)).astype(np.float32),
            "b": rng.normal(size=(layers, rank, 64)).astype(np.float32)}}},
        "mlp": {"down_proj": {"adapter": {
            "a": rng.normal(size=(layers, 48, rank)).astype(np.float32),
            "b": rng.normal(size=(layers, rank, 32)).astype(np.float32)}}}}}
  cfg = {"method": "lora", "rank": rank, "alpha": alpha, "targets": ["q", "down"]}
  workdir = _trainer_workdir(qwen, "workdir_lora", cfg, ad)
  out = orbax_to_hf(workdir, str(qwen["root"] / "export_merged"))  # WORKDIR -> latest step (20)
  got = state_dict_np(transformers.AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32))
  want = state_dict_np(qwen["model"])
  scale = alpha / rank
  for i in range(layers):
    q = ad["layers"]["attn"]["q_proj"]["adapter"]
    delta_q = (scale * q["a"][i] @ q["b"][i]).T  # our [E, N*D] delta -> HF [N*D, E]
    np.testing.assert_allclose(got[f"model.layers.{i}.self_attn.q_proj.weight"],
                               want[f"model.layers.{i}.self_attn.q_proj.weight"] + delta_q, atol=1e-5)
    d = ad["layers"]["mlp"]["down_proj"]["adapter"]
    np.testing.assert_allclose(got[f"model.layers.{i}.mlp.down_proj.weight"],
                               want[f"model.layers.{i}.mlp.down_proj.weight"]
                               + (scale * d["a"][i] @ d["b"][i]).T,
                               atol=1e-5)
    np.testing.assert_array_equal(got[f"model.layers.{i}.self_attn.k_proj.weight"],
                                  want[f"model.layers.{i}.self_attn.k_proj.weight"])
  assert not [k for k in got if "opt" in k or "adapter" in k]
  # load_model folds the same adapters in (the step folder directly this time).
  mesh = make_mesh((1, 1, 1), devices=jax.devices()[:1])
  ours = load_model(os.path.join(workdir, "checkpoints", "20"), mesh, DEFAULT_RULES)
  # Reference: the exported model run by transformers in float64. The adapters are large on purpose (deltas of
  # std ~4 on weights of std ~1), which amplifies float32 rounding: float32 implementations (ours, transformers')
  # land 2e-5 to 2e-4 from it depending on summation order, so the bound scales with the logits. A wrong merge is
  # off by O(1).
  merged = transformers.AutoModelForCausalLM.from_pretrained(out, dtype=torch.float64)
  toks = tokens()
  want = hf_logits(merged, toks)
  np.testing.assert_allclose(np.asarray(ours(toks)[0]), want, atol=1e-4 * max(1.0, np.abs(want).max()), rtol=0)


def test_verify_cli_passes_and_fails(qwen, capsys):
  assert main(["verify", "--hf_dir", qwen["single"], "--ckpt", qwen["ckpt"], "--atol", "1e-4",
               "--num_random", "3", "--length", "10"]) == 0
  report = json.loads(capsys.readouterr().out)
  assert report["passed"] and report["max_abs_diff"] <= 1e-4 and report["top1_agreement"] == 1.0
  assert report["positions"] >= 15 and report["max_abs_logit"] > 1.0
  other = save_hf(random_model("qwen2_untied", seed=4), str(qwen["root"] / "other"))
  argv = ["verify", "--hf_dir", other, "--ckpt", qwen["ckpt"], "--num_random", "3", "--length", "10"]
  assert main(argv) == 1
  report = json.loads(capsys.readouterr().out)
  assert not report["passed"] and report["max_abs_diff"] > 0.1
