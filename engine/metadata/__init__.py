"""Configuration text -> validated, immutable model (load, schemas, model, check, expressions, errors)."""
from .errors import ConfigError, ConfigInvalid, Location
from .loader import load_config, validate_folder

__all__ = ["ConfigError", "ConfigInvalid", "Location", "load_config", "validate_folder"]
