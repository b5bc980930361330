"""Config loading for every entry point: `--config=FILE[:arg]`, checked `--config.a.b=value` overrides."""
from meta_rfft.config.loader import ConfigError, load_config, main_with_config, save_config
