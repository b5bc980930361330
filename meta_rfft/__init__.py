"""meta_rfft: Meta Rule-Following Fine-Tuning in JAX (Flax NNX)."""
