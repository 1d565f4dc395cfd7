"""The meaning checks, one module per concern; `check.check_config` runs them all."""
