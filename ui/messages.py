"""The records service's field problems, in the user's language.

The service writes its refusals in English ("must be at least 0"); the
configured validation-rule messages come already localized. This module maps
the engine's fixed phrases to UI catalog entries, keeping the numbers and
names they carry:

    localize("must be at least 0", gettext)     # 'legalább 0 kell legyen'

A phrase not listed here is shown as the engine wrote it (still correct,
only English).
"""
from __future__ import annotations

import re
from typing import Callable, Mapping

Gettext = Callable[[str], str]


def N_(message: str) -> str:
    """Marks a catalog entry for `make messages` without translating it here."""
    return message


_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^is required$"), N_("is required")),
    (re.compile(r"^needs at least one row$"), N_("needs at least one row")),
    (re.compile(r"^is already used by another record$"), N_("is already used by another record")),
    (re.compile(r"^must be at least (?P<limit>.+)$"), N_("must be at least %(limit)s")),
    (re.compile(r"^must be at most (?P<limit>\d+) characters \(has (?P<has>\d+)\)$"), N_("must be at most %(limit)s characters (has %(has)s)")),
    (re.compile(r"^must be at most (?P<limit>.+)$"), N_("must be at most %(limit)s")),
    (re.compile(r"^must be a number$"), N_("must be a number")),
    (re.compile(r"^must be a whole number$"), N_("must be a whole number")),
    (re.compile(r"^must have at most (?P<scale>\d+) decimal places$"), N_("must have at most %(scale)s decimal places")),
    (re.compile(r"^must be a date \(YYYY-MM-DD\)$"), N_("must be a date")),
    (re.compile(r"^must be a date and time \(YYYY-MM-DD HH:MM\)$"), N_("must be a date and time")),
    (re.compile(r"^'(?P<value>.*)' is not an e-mail address$"), N_("'%(value)s' is not an e-mail address")),
    (re.compile(r"^'(?P<value>.*)' is not a (?:valid )?phone number$"), N_("'%(value)s' is not a phone number")),
    (re.compile(r"^'(?P<value>.*)' is not a web address$"), N_("'%(value)s' is not a web address")),
    (re.compile(r"^does not have the expected form \((?P<pattern>.*)\)$"), N_("does not have the expected form (%(pattern)s)")),
    (re.compile(r"^'(?P<name>.*)' is not one of the accepted file types \((?P<types>.*)\)$"),
     N_("'%(name)s' is not one of the accepted file types (%(types)s)")),
    (re.compile(r"^'(?P<name>.*)' is (?P<size>.+), more than the (?P<limit>.+) allowed$"),
     N_("'%(name)s' is %(size)s, more than the %(limit)s allowed")),
    (re.compile(r"^(?P<entity>\w+) (?P<id>\d+) does not exist$"), N_("the chosen record does not exist")),
    (re.compile(r"^(?P<entity>\w+) (?P<id>\d+) is not allowed here \((?P<rule>.*)\)$"), N_("the chosen record is not allowed here (%(rule)s)")),
]


def localize(message: str, gettext: Gettext) -> str:
    """`message` in the catalog's language when it is one of the engine's fixed phrases."""
    for pattern, msgid in _PATTERNS:
        match = pattern.match(message)
        if match:
            return gettext(msgid) % match.groupdict()
    return message


def localize_all(problems: Mapping[str, list[str]], gettext: Gettext) -> dict[str, list[str]]:
    return {name: [localize(msg, gettext) for msg in msgs] for name, msgs in problems.items()}
