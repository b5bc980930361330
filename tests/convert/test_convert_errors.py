"""Every bad input stops the conversion with a message naming the culprit, and leaves nothing behind."""
import json
import os
import shutil

import pytest
from convert_helpers import random_model, save_hf
from safetensors.numpy import load_file, save_file

from meta_rfft.convert import ConversionError, hf_to_orbax, orbax_to_hf
from meta_rfft.convert.__main__ import main


@pytest.fixture(scope="module")
def base(tmp_path_factory):
  root = tmp_path_factory.mktemp("errors")
  model = random_model("llama", seed=2)
  single = save_hf(model, str(root / "single"))
  sharded = save_hf(model, str(root / "sharded"), max_shard_size="40KB")
  return dict(root=root, single=single, sharded=sharded, ckpt=hf_to_orbax(single, str(root / "ckpt")))


def _variant(base, tmp_path, edit_tensors=None, edit_config=None):
  """A copy of the single-file folder with its tensors and/or config.json edited."""
  hf_dir = str(tmp_path / "hf")
  shutil.copytree(base["single"], hf_dir)
  if edit_tensors:
    path = os.path.join(hf_dir, "model.safetensors")
    tensors = load_file(path)
    edit_tensors(tensors)
    save_file(tensors, path, metadata={"format": "pt"})
  if edit_config:
    with open(os.path.join(hf_dir, "config.json")) as f:
      config = json.load(f)
    edit_config(config)
    with open(os.path.join(hf_dir, "config.json"), "w") as f:
      json.dump(config, f)
  return hf_dir


def _fails(hf_dir, tmp_path, *fragments):
  out = tmp_path / "out"
  with pytest.raises(ConversionError) as e:
    hf_to_orbax(hf_dir, str(out))
  for fragment in fragments:
    assert fragment in str(e.value)
  assert not out.exists()
  assert not [n for n in os.listdir(tmp_path) if n.startswith(".out")], "temporary folder left behind"
  return str(e.value)


def test_unsupported_model_type(base, tmp_path):
  hf_dir = _variant(base, tmp_path, edit_config=lambda c: c.update(model_type="gpt_neox"))
  _fails(hf_dir, tmp_path, "'gpt_neox'", "config.json")


def test_missing_tensor(base, tmp_path):
  hf_dir = _variant(base, tmp_path, edit_tensors=lambda t: t.pop("model.layers.1.mlp.up_proj.weight"))
  _fails(hf_dir, tmp_path, "missing", "model.layers.1.mlp.up_proj.weight")


def test_extra_tensor(base, tmp_path):
  def add(t):
    t["model.layers.0.mlp.extra_proj.weight"] = t["model.layers.0.mlp.up_proj.weight"]
  hf_dir = _variant(base, tmp_path, edit_tensors=add)
  _fails(hf_dir, tmp_path, "unexpected", "model.layers.0.mlp.extra_proj.weight", "model.safetensors")


def test_shape_not_matching_config(base, tmp_path):
  hf_dir = _variant(base, tmp_path, edit_config=lambda c: c.update(intermediate_size=40))
  _fails(hf_dir, tmp_path, "model.layers.0.mlp.gate_proj.weight", "(48, 32)", "(40, 32)")


def test_truncated_safetensors_file(base, tmp_path):
  hf_dir = str(tmp_path / "hf")
  shutil.copytree(base["sharded"], hf_dir)
  victim = sorted(n for n in os.listdir(hf_dir) if n.endswith(".safetensors"))[1]
  path = os.path.join(hf_dir, victim)
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) - 100)
  _fails(hf_dir, tmp_path, "truncated", victim)


def test_shard_named_by_index_but_absent(base, tmp_path):
  hf_dir = str(tmp_path / "hf")
  shutil.copytree(base["sharded"], hf_dir)
  victim = sorted(n for n in os.listdir(hf_dir) if n.endswith(".safetensors"))[0]
  os.remove(os.path.join(hf_dir, victim))
  _fails(hf_dir, tmp_path, victim, "missing")


def test_index_placing_a_tensor_in_the_wrong_shard(base, tmp_path):
  hf_dir = str(tmp_path / "hf")
  shutil.copytree(base["sharded"], hf_dir)
  index_path = os.path.join(hf_dir, "model.safetensors.index.json")
  with open(index_path) as f:
    index = json.load(f)
  files = sorted(set(index["weight_map"].values()))
  name = next(n for n, f in index["weight_map"].items() if f == files[0])
  index["weight_map"][name] = files[1]
  with open(index_path, "w") as f:
    json.dump(index, f)
  _fails(hf_dir, tmp_path, name, files[1], files[0])


def test_output_folder_exists_both_ways(base, tmp_path):
  out = tmp_path / "exists"
  out.mkdir()
  (out / "keep.txt").write_text("mine")
  for convert in (lambda: hf_to_orbax(base["single"], str(out)), lambda: orbax_to_hf(base["ckpt"], str(out))):
    with pytest.raises(ConversionError, match="already exists") as e:
      convert()
    assert str(out) in str(e.value)
  assert os.listdir(out) == ["keep.txt"]


def test_checkpoint_not_matching_config(base, tmp_path):
  ckpt = str(tmp_path / "ckpt")
  shutil.copytree(base["ckpt"], ckpt)
  with open(os.path.join(ckpt, "hf", "config.json")) as f:
    config = json.load(f)
  config["num_hidden_layers"] = 3
  with open(os.path.join(ckpt, "hf", "config.json"), "w") as f:
    json.dump(config, f)
  with pytest.raises(ConversionError, match=r"param layers\..* has shape \(2, .*config.json implies \(3, "):
    orbax_to_hf(ckpt, str(tmp_path / "out"))
  assert not os.path.exists(tmp_path / "out")


def test_cli_reports_error_and_exit_code(base, tmp_path, capsys):
  hf_dir = _variant(base, tmp_path, edit_config=lambda c: c.update(model_type="gpt_neox"))
  assert main(["hf_to_orbax", "--hf_dir", hf_dir, "--out", str(tmp_path / "out")]) == 2
  err = capsys.readouterr().err
  assert err.startswith("error: ") and "gpt_neox" in err


def test_cli_refuses_object_store_urls(tmp_path, capsys):
  # The safetensors side is local file I/O: a URL is refused by name before anything is read or written.
  cases = [(["hf_to_orbax", "--hf_dir", "gs://b/hf", "--out", str(tmp_path / "a")], "--hf_dir='gs://b/hf'"),
           (["orbax_to_hf", "--ckpt", str(tmp_path), "--out", "gs://b/out"], "--out='gs://b/out'")]
  for argv, culprit in cases:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert culprit in err and "local folders only" in err
  assert not os.path.exists(tmp_path / "a")


def test_cli_bad_inputs_are_one_line_errors(base, tmp_path, capsys):
  """Invalid JSON in config.json, an unparsable --max_shard_size, verify against another model's checkpoint or
  at a length past max_position_embeddings: each stops before any work with exit 2, naming the culprit."""
  broken = str(tmp_path / "broken")
  shutil.copytree(base["single"], broken)
  with open(os.path.join(broken, "config.json"), "w") as f:
    f.write('{"model_type": "llama",')
  cases = [
      (["hf_to_orbax", "--hf_dir", broken, "--out", str(tmp_path / "a")], f"{broken}/config.json is not valid JSON"),
      (["orbax_to_hf", "--ckpt", base["ckpt"], "--out", str(tmp_path / "b"), "--max_shard_size", "5XB"],
       "--max_shard_size='5XB'"),
      (["verify", "--hf_dir", base["single"], "--ckpt", base["ckpt"], "--length", "100000"], "--length=100000"),
  ]
  edited = _variant(base, tmp_path, edit_config=lambda c: c.update(num_hidden_layers=3))
  cases.append((["verify", "--hf_dir", edited, "--ckpt", base["ckpt"]], "num_hidden_layers 2 there, 3 in the HF"))
  for argv, culprit in cases:
    assert main(argv) == 2, argv
    err = capsys.readouterr().err
    assert err.startswith("error: ") and culprit in err and "Traceback" not in err, err
  assert not os.path.exists(tmp_path / "a") and not os.path.exists(tmp_path / "b")
