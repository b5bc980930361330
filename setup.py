"""meta_rfft: Meta Rule-Following Fine-Tuning in JAX (Flax NNX), from Hugging Face checkpoints and back."""
import setuptools

# Ranges are "compatible" pins: the lower bound is what the code uses (NNX APIs such as
# nnx.get_named_sharding appeared in flax 0.12.4; jax.set_mesh in jax 0.7), the upper bound is the next
# major series, whose API changes we have not yet followed.
INSTALL_REQUIRES = [
    "jax>=0.7.2,<0.12",
    "flax>=0.12.4,<0.14",
    "optax>=0.2.5,<0.3",
    "orbax-checkpoint>=0.11.20,<0.13",
    "etils[epath]>=1.7",  # WORKDIR paths (local or gs://); was only pulled in by orbax
    "seqio>=0.0.19",
    "tensorflow>=2.18,<2.22",
    "tensorflow-datasets>=4.9.7,<5",
    "ml-collections>=1.0,<2",
    "tokenizers>=0.20,<1",
    "safetensors>=0.4.5,<1",
    "gguf>=0.17,<1",  # llama.cpp's reader of GGUF files (meta_rfft/convert/gguf_import.py)
    "numpy>=1.26,<3",
    "absl-py>=2.1",
    "tensorboardX>=2.6",
    "matplotlib>=3.8",
    "scikit-learn>=1.4,<2",  # meta_rfft/tart: PCA and whitening, logistic-regression baselines, bundled datasets
    "scipy>=1.15",  # meta_rfft/evaluate/convergence: correlations; stats.bootstrap(rng=) since 1.15
    "jinja2>=3.1.6",  # chat templates (meta_rfft/data/chat_template.py); older releases have sandbox escapes
]

EXTRAS = {
    # Parity with Hugging Face is checked against transformers on the CPU build of torch; never pull the
    # CUDA build (gigabytes) just to compare logits.
    "test": ["pytest>=8", "pytest-timeout>=2.3", "pytest-xdist>=3.8", "hypothesis>=6.100", "transformers>=4.48",
             "torch==2.13.0",
             "accelerate>=1.0",  # transformers reads a GGUF file only with it (the reference in GGUF tests)
             "gcp-storage-emulator==2026.7.19", "gcsfs==2026.10.1"],  # a local GCS for the gs:// WORKDIR test
    "tpu": ["jax[tpu]>=0.7.2,<0.12"],
    "gpu": ["jax[cuda12]>=0.7.2,<0.12"],        # CUDA 12 wheels (driver >= 525)
    "gpu-cuda13": ["jax[cuda13]>=0.7.2,<0.12"],  # CUDA 13 wheels (driver >= 580)
}

setuptools.setup(
    name="meta_rfft",
    version="0.1.0",
    description=__doc__,
    python_requires=">=3.10",
    # The task modules, the TFDS builder, the shipped pretrained models and the configs ship inside the package
    # (meta_rfft/_data, meta_rfft/_configs), so that a non-editable install runs the demo: meta_rfft/shipped.py
    # finds them there, and a checkout's top-level data/ and configs/ first.
    packages=setuptools.find_packages(include=["meta_rfft", "meta_rfft.*"]) + ["meta_rfft._data", "meta_rfft._configs"],
    package_dir={"meta_rfft._data": "data", "meta_rfft._configs": "configs"},
    package_data={"meta_rfft._data": ["**/*"], "meta_rfft._configs": ["*.py"]},
    include_package_data=False,
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
)
