"""The Flax NNX decoder for the Llama, Qwen2 and Mistral families."""
from meta_rfft.model.attention import KVCache
from meta_rfft.model.config import ModelConfig, RopeConfig, from_hf_config, from_run_config, load_hf_config
from meta_rfft.model.decoder import Decoder
from meta_rfft.model.visibility import Visibility, register_rule
