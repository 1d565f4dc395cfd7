"""The workflow services' refusals in the user's language (English and Hungarian).

The records service speaks English; the workflow refusals are read by reps on
the board and in the approval inbox, so they follow the acting user's locale,
else the company's first one. Each missing item keeps its configuration
reference (`approval big_discount`, `field lost_reason`) next to the label:
consultants and scenario tests (`refused: "approval big_discount"`) match on
the reference, which reads the same in every language.
"""
from __future__ import annotations

from typing import Any

from ...metadata import model as m
from ..actor import Actor

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "stage_needs": "stage {stage} needs: {items}",
        "field": "field",
        "activity": "activity",
        "related": "related",
        "approval": "approval",
        "found": "{found} of {min}",
        "approval_state": "{state}",
        "not_allowed": "{entity} {id} cannot move from stage {source} to {target} ({rule})",
        "unknown_stage": "{target} is not a stage of pipeline {pipeline}",
        "no_pipeline": "{entity} has no pipeline",
        "pending": "pending", "rejected": "rejected", "expired": "expired", "missing": "not requested",
        "cancelled": "cancelled",
        "via skipped": "skipped stage {stage}",
        "locked": "is locked while approval {approval} is pending",
    },
    "hu": {
        "stage_needs": "a(z) {stage} szakaszhoz hiányzik: {items}",
        "field": "mező",
        "activity": "tevékenység",
        "related": "kapcsolódó",
        "approval": "jóváhagyás",
        "found": "{found} / {min}",
        "approval_state": "{state}",
        "not_allowed": "{entity} {id} nem léphet a(z) {source} szakaszból a(z) {target} szakaszba ({rule})",
        "unknown_stage": "{target} nem szakasza a(z) {pipeline} folyamatnak",
        "no_pipeline": "{entity}: nincs folyamata",
        "pending": "függőben", "rejected": "elutasítva", "expired": "lejárt", "missing": "nem kérték",
        "cancelled": "visszavonva",
        "via skipped": "átugrott szakasz: {stage}",
        "locked": "zárolva, amíg a(z) {approval} jóváhagyás függőben van",
    },
}


def locale_of(actor: Actor, config: m.Config) -> str:
    """The actor's locale if the workflow texts have it, else the company's first that they have."""
    for loc in (actor.locale, *config.company.locales):
        if loc and loc.split("_")[0] in TEXTS:
            return loc.split("_")[0]
    return "en"


def text(locale: str, key: str, **values: Any) -> str:
    template = TEXTS.get(locale, TEXTS["en"]).get(key) or TEXTS["en"][key]
    return template.format(**values)


def label(lbl: m.Label | None, name: str, locale: str, config: m.Config) -> str:
    """A configured label in the locale (else the company's first), or the name (also for derived labels)."""
    if lbl is None or set(lbl.texts) <= {"*"}:
        return name
    try:
        return lbl.text(locale, config.company.default_locale)
    except Exception:   # noqa: BLE001 - a label without this locale: the name says it
        return name
