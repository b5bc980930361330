"""`--workdir=gs://bucket/run` without gcsfuse: `python -m meta_rfft.train` against a local GCS emulator
(gcp-storage-emulator on 127.0.0.1) writes config.json, hf/, metrics.jsonl, TensorBoard events and Orbax
checkpoints to the bucket, resumes from them, and gives exactly the losses of the same run on local disk; and
`python -m meta_rfft.evaluate --workdir=gs://bucket/run` reads that run's checkpoint, HF config and run config
from the bucket and scores exactly as the same run copied to local disk; and a run started from a converted
checkpoint uploaded to the bucket (`--config.init.checkpoint=gs://...`) trains exactly as from its local copy.

Endpoints: gcsfs (etils.epath's backend for gs:// when EPATH_USE_TF=false; TF's own GCS client has no
endpoint setting) honours STORAGE_EMULATOR_HOST; TensorStore (Orbax's array writer) honours
TENSORSTORE_GCS_HTTP_URL and takes its bearer token from GOOGLE_AUTH_TOKEN_FOR_TESTING.
"""
from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from meta_rfft.data.vocab import CharVocabulary
from train_helpers import TINY_OVERRIDES

pytestmark = pytest.mark.heavy  # started first: see tests/conftest.py

pytest.importorskip("gcsfs")  # etils.epath's gs:// backend in the runs (EPATH_USE_TF=false)
pytest.importorskip("gcp_storage_emulator")

ROOT = pathlib.Path(__file__).resolve().parents[2]
# configs/rf_pretrain.py:tiny reads with the character vocabulary: an embedding covering every character id
# (the last vocab_size override wins) lets the evaluation below decode real prompts.
ARGS = ["--config=configs/rf_pretrain.py:tiny", *TINY_OVERRIDES,
        f"--config.model.arch.vocab_size={CharVocabulary().vocab_size}", "--config.checkpoint.every=2",
        "--config.checkpoint.keep=3", "--config.eval.every=0", "--config.log_every=1000"]
BUCKET = "meta-rfft-test"
TASK = "nupa_length_integer"
EVAL_ARGS = ["--config=configs/eval.py", f"--config.tasks={TASK}", "--config.lengths=1-2",
             "--config.samples_per_length=2", "--config.batch_size=2", "--config.max_new_tokens=24"]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.fixture(scope="module")
def emulator():
  # A process of its own: served from a thread of the pytest process, its answers came minutes late.
  port = _free_port()
  script = pathlib.Path(__file__).with_name("gcs_emulator.py")
  proc = subprocess.Popen([sys.executable, str(script), str(port), BUCKET], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  deadline = time.time() + 60
  while True:
    try:
      socket.create_connection(("127.0.0.1", port), timeout=1).close()
      break
    except OSError:
      if time.time() > deadline or proc.poll() is not None:
        proc.kill()
        raise RuntimeError(f"the GCS emulator (tests/train/gcs_emulator.py) did not start on port {port}")
      time.sleep(0.2)
  yield f"http://127.0.0.1:{port}"
  proc.terminate()
  proc.wait(timeout=10)


@pytest.fixture(scope="module")
def env(tmp_path_factory, emulator):
  return dict(os.environ, JAX_DEFAULT_MATMUL_PRECISION="highest", EPATH_USE_TF="false",
              STORAGE_EMULATOR_HOST=emulator, TENSORSTORE_GCS_HTTP_URL=emulator,
              GOOGLE_AUTH_TOKEN_FOR_TESTING="emulator-needs-no-token",
              JAX_COMPILATION_CACHE_DIR=str(tmp_path_factory.mktemp("jax_cache")),
              JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")


def _train(workdir: str, steps: int, env) -> str:
  proc = subprocess.run([sys.executable, "-m", "meta_rfft.train", *ARGS, f"--config.train.steps={steps}",
                         f"--workdir={workdir}"], cwd=ROOT, env=env, capture_output=True, text=True,
                        timeout=600)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  return proc.stderr


def _read(emulator: str, name: str) -> bytes:
  """An object's bytes, through the JSON API's media download (no client library: gcsfs in this process would
  spend minutes trying to reach the real GCS control API for the bucket's type)."""
  url = f"{emulator}/download/storage/v1/b/{BUCKET}/o/{urllib.parse.quote(name, safe='')}?alt=media"
  with urllib.request.urlopen(url, timeout=30) as r:
    return r.read()


def _write(emulator: str, name: str, data: bytes) -> None:
  """Uploads one object with the JSON API's media upload (as `_read`: no client library in this process)."""
  url = f"{emulator}/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={urllib.parse.quote(name, safe='')}"
  req = urllib.request.Request(url, data=data, method="POST",
                               headers={"Content-Type": "application/octet-stream"})
  with urllib.request.urlopen(req, timeout=30) as r:
    r.read()


def _names(emulator: str, prefix: str) -> list[str]:
  url = f"{emulator}/storage/v1/b/{BUCKET}/o?prefix={urllib.parse.quote(prefix, safe='')}"
  with urllib.request.urlopen(url, timeout=30) as r:
    return [item["name"] for item in json.load(r).get("items", [])]


def _losses(text: str) -> dict[int, float]:
  return {r["step"]: r["loss"] for r in map(json.loads, text.splitlines()) if r}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, env):
  """A run on the bucket (2 steps, then resumed to 4) and the same 4 steps on local disk (stderr of each)."""
  workdir = f"gs://{BUCKET}/run"
  local = tmp_path_factory.mktemp("local") / "run"
  return {"workdir": workdir, "first": _train(workdir, 2, env), "resumed": _train(workdir, 4, env),
          "local": local, "local_log": _train(str(local), 4, env)}


def test_train_and_resume_on_a_gs_workdir(runs, emulator):
  workdir, local = runs["workdir"], runs["local"]
  assert f"workdir {workdir}" in runs["first"]
  assert f"resumed from {workdir}/checkpoints/2" in runs["resumed"], runs["resumed"][-3000:]
  assert not (ROOT / "gs:").exists()  # the URL was never taken for a relative local path

  config = json.loads(_read(emulator, "run/config.json"))
  assert f"--workdir={workdir}" in config["command"] and config["config"]["train"]["steps"] == 4
  assert json.loads(_read(emulator, "run/hf/config.json"))["hidden_size"] == 32
  # The resumed run dropped nothing and repeated nothing; its losses are the uninterrupted local run's.
  remote = _losses(_read(emulator, "run/metrics.jsonl").decode())
  assert sorted(remote) == [1, 2, 3, 4]
  assert remote == _losses((local / "metrics.jsonl").read_text())
  assert [n for n in _names(emulator, "run/tensorboard/") if "tfevents" in n]
  names = _names(emulator, "run/checkpoints/")
  steps = {n.split("/")[2] for n in names}
  assert {"2", "4"} <= steps, steps
  assert any(n.startswith("run/checkpoints/4/params/") for n in names)
  assert any(n.startswith("run/checkpoints/4/data/process_0/") for n in names)


def _evaluate(workdir: str, env, *extra: str) -> None:
  proc = subprocess.run([sys.executable, "-m", "meta_rfft.evaluate", *EVAL_ARGS, f"--workdir={workdir}",
                         *extra],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _scored(samples: str) -> list[tuple]:
  rows = [json.loads(line) for line in samples.splitlines() if line.strip()][1:]  # after the header
  return sorted((r["batch"], r["seed"], r["output"], r["correct"]) for r in rows)


def test_evaluate_a_gs_workdir_as_its_local_copy(runs, emulator, tmp_path, env):
  # The evaluator reads the run's latest step (Orbax restore from gs://), its hf/config.json and the run's
  # config.json (data.vocab) from the bucket, and writes RUN/eval/ there.
  _evaluate(runs["workdir"], env)
  # The same run copied object by object to local disk (not through our code), evaluated from there.
  copy = tmp_path / "run"
  for name in _names(emulator, "run/"):
    if name.startswith(("run/checkpoints/4/", "run/hf/")) or name == "run/config.json":
      target = copy / name[len("run/"):]
      target.parent.mkdir(parents=True, exist_ok=True)
      target.write_bytes(_read(emulator, name))
  _evaluate(str(copy), env)

  remote_report = json.loads(_read(emulator, "run/eval/report.json"))
  local_report = json.loads((copy / "eval" / "report.json").read_text())
  assert remote_report["meta"]["checkpoint"] == runs["workdir"]
  assert remote_report["formats"] == local_report["formats"]
  remote = _scored(_read(emulator, "run/eval/samples.jsonl").decode())
  assert remote == _scored((copy / "eval" / "samples.jsonl").read_text())
  assert len(remote) == 4 and any(out for _, _, out, _ in remote)  # 2 lengths x 2 samples, something decoded


def test_evaluate_a_converted_checkpoint_in_a_bucket(emulator, tmp_path, env):
  # A converted checkpoint (hf_to_orbax: meta_rfft.json with its dtype, params/, hf/ with tokenizer.json),
  # made on local disk and uploaded object by object; evaluated with --config.checkpoint=gs://... (the
  # vocabulary is then the bucket's hf/tokenizer.json) into a local WORKDIR, and from the local original.
  from meta_rfft.convert import hf_to_orbax
  from meta_rfft.pipeline import hf_build
  from meta_rfft.tasks import formats, registry
  task = registry.get_task(TASK)
  texts = [t for s in range(6) for e in [formats.make_example(task, 1 + s % 2, s, "rf")]
           for t in (e.inputs, e.targets)]
  hf = tmp_path / "hf"
  vocab = hf_build.train_tokenizer(texts, str(hf), 400)
  hf_build.build_qwen2(str(hf), vocab_size=vocab, eos_token_id=0, hidden_size=32, num_layers=2, num_heads=4,
                       num_kv_heads=2, intermediate_size=64, init_std=0.2)
  local = pathlib.Path(hf_to_orbax(str(hf), str(tmp_path / "ckpt"), dtype="bfloat16"))
  for path in local.rglob("*"):
    if path.is_file():
      _write(emulator, f"ckpt/{path.relative_to(local).as_posix()}", path.read_bytes())

  _evaluate(str(tmp_path / "from_gs"), env, f"--config.checkpoint=gs://{BUCKET}/ckpt")
  _evaluate(str(tmp_path / "from_local"), env, f"--config.checkpoint={local}")
  runs = ("from_gs", "from_local")
  reports = [json.loads((tmp_path / run / "eval" / "report.json").read_text()) for run in runs]
  assert reports[0]["meta"]["checkpoint"] == f"gs://{BUCKET}/ckpt"
  assert reports[0]["formats"] == reports[1]["formats"]
  scored = [_scored((tmp_path / run / "eval" / "samples.jsonl").read_text()) for run in runs]
  assert scored[0] == scored[1] and len(scored[0]) == 4 and any(out for _, _, out, _ in scored[0])


def test_train_from_a_converted_checkpoint_in_a_bucket(emulator, tmp_path, env):
  from meta_rfft.convert import hf_to_orbax
  from meta_rfft.pipeline import hf_build
  hf = tmp_path / "hf"
  vocab = hf_build.train_tokenizer([f"abc {i} def {i*7}" for i in range(50)], str(hf), 400)
  hf_build.build_qwen2(str(hf), vocab_size=vocab, eos_token_id=0, hidden_size=32, num_layers=2, num_heads=4,
                       num_kv_heads=2, intermediate_size=64, init_std=0.2)
  local = pathlib.Path(hf_to_orbax(str(hf), str(tmp_path / "ckpt")))
  for path in local.rglob("*"):
    if path.is_file():
      _write(emulator, f"ckpt2/{path.relative_to(local).as_posix()}", path.read_bytes())
  remote_log = _train_init(f"gs://{BUCKET}/run2", f"gs://{BUCKET}/ckpt2", env)
  assert f"initialised from gs://{BUCKET}/ckpt2" in remote_log, remote_log[-2000:]
  _train_init(str(tmp_path / "run_local"), str(local), env)
  remote = _losses(_read(emulator, "run2/metrics.jsonl").decode())
  loc = _losses((tmp_path / "run_local" / "metrics.jsonl").read_text())
  assert remote == loc and sorted(remote) == [1, 2]
  assert _read(emulator, "run2/hf/tokenizer.json") == (hf / "tokenizer.json").read_bytes()


def _train_init(workdir, init, env):
  proc = subprocess.run([sys.executable, "-m", "meta_rfft.train", *ARGS, "--config.train.steps=2",
                         f"--config.init.checkpoint={init}", f"--workdir={workdir}"], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  return proc.stderr
