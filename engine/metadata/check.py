"""Meaning checks: what a JSON Schema cannot see.

Each check is a small function `Config -> list[ConfigError]` that looks at one
concern (links resolve, role inheritance has no cycle, ...) and reports every
problem it finds at the line holding the bad reference. `check_config` runs
them all; none stops at the first error. The checks live in `checks/`, one
module per part of the language.
"""
from __future__ import annotations

from typing import Callable

from .checks import (alerts, entities, expressions, fields, forecasts, formulas, reports, roles, scenarios,
                     workflow)
from .errors import ConfigError
from .model import Config
from .templates import check_templates

Check = Callable[[Config], list[ConfigError]]


def check_template_syntax(config: Config) -> list[ConfigError]:
    return check_templates(dict(config.templates))


CHECKS: list[Check] = [
    check_template_syntax,
    *entities.CHECKS,
    *fields.CHECKS,
    *formulas.CHECKS,
    *workflow.CHECKS,
    *alerts.CHECKS,
    *reports.CHECKS,
    *forecasts.CHECKS,
    *roles.CHECKS,
    *scenarios.CHECKS,
    *expressions.CHECKS,
]


def check_config(config: Config) -> list[ConfigError]:
    errors: list[ConfigError] = []
    for check in CHECKS:
        errors.extend(check(config))
    return errors
