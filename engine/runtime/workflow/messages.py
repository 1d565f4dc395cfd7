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
        "child_locked": "{entity}.{field} is locked while approval {approval} is pending",
        # approvals: deciding
        "reason_needed": "rejecting {approval} needs a reason",
        "no_approval": "there is no approval {approval}",
        "not_found": "{entity} {id} does not exist",
        "nothing_pending": "{entity} {id} has no pending request of approval {approval}",
        "request_expired": "the request of approval {approval} for {entity} {id} expired at {at} UTC",
        "needs_role": "step {step} of approval {approval} needs a user with role {role}",
        "needs_team": "step {step} of approval {approval} needs a member of team {team}",
        "needs_same_team": "step {step} of approval {approval} needs a {role} of team {team} (the owner's team)",
        "needs_user": "step {step} of approval {approval} is for user {user}",
        "user_word": "user",
        # conversions
        "no_entity": "there is no entity {entity}",
        "no_conversion": "{entity} has no conversion {action}",
        "conversion_update": "conversion {action}: you may not update {entity} {id}",
        "conversion_when": "conversion {action} is not possible for {entity} {id}: its condition does not hold ({when})",
        "conversion_step": "conversion {action}, step {step} ({entity})",
        "conversion_then": "conversion {action}, then.set",
        "not_computed": "'{expr}' could not be computed ({error})",
        # notices (spec 7 `notify`): what approvers and requesters are told
        "notice_pending": "Approval needed: {approval} for {record}",
        "notice_pending_body": "{requester} asked for {approval} on {entity} {record} (step {step} of {steps}). "
                               "Approve or reject it in the approvals inbox.",
        "notice_approved": "Approved: {approval} for {record}",
        "notice_approved_body": "{decider} approved {approval} on {entity} {record}.",
        "notice_rejected": "Rejected: {approval} for {record}",
        "notice_rejected_body": "{decider} rejected {approval} on {entity} {record}. Reason: {reason}",
        "notice_expired": "Expired: {approval} for {record}",
        "notice_expired_body": "Nobody decided {approval} on {entity} {record} in time; the request expired. "
                               "Change the record to ask again.",
        "somebody": "Somebody",
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
        "child_locked": "{entity}.{field} zárolva, amíg a(z) {approval} jóváhagyás függőben van",
        "reason_needed": "a(z) {approval} elutasításához indoklás kell",
        "no_approval": "nincs {approval} nevű jóváhagyás",
        "not_found": "{entity} {id} nem létezik",
        "nothing_pending": "{entity} {id} rekordnak nincs függő {approval} jóváhagyási kérése",
        "request_expired": "a(z) {approval} jóváhagyási kérés ({entity} {id}) lejárt: {at} UTC",
        "needs_role": "a(z) {approval} jóváhagyás {step}. lépéséhez {role} szerepkörű felhasználó kell",
        "needs_team": "a(z) {approval} jóváhagyás {step}. lépéséhez a(z) {team} csapat tagja kell",
        "needs_same_team": "a(z) {approval} jóváhagyás {step}. lépéséhez a(z) {team} csapat (a tulajdonos "
                           "csapata) {role} szerepkörű tagja kell",
        "needs_user": "a(z) {approval} jóváhagyás {step}. lépése {user} felhasználóé",
        "user_word": "felhasználó",
        "no_entity": "nincs {entity} nevű entitás",
        "no_conversion": "{entity}: nincs {action} nevű átalakítás",
        "conversion_update": "{action} átalakítás: nem módosíthatja ezt: {entity} {id}",
        "conversion_when": "a(z) {action} átalakítás nem lehetséges ({entity} {id}): a feltétele nem teljesül ({when})",
        "conversion_step": "{action} átalakítás, {step}. lépés ({entity})",
        "conversion_then": "{action} átalakítás, then.set",
        "not_computed": "a(z) '{expr}' nem számítható ki ({error})",
        "notice_pending": "Jóváhagyás kell: {approval} – {record}",
        "notice_pending_body": "{requester} jóváhagyást kér ({approval}) ehhez: {entity} {record} "
                               "({step}. lépés / {steps}). A jóváhagyások között hagyhatja jóvá vagy utasíthatja el.",
        "notice_approved": "Jóváhagyva: {approval} – {record}",
        "notice_approved_body": "{decider} jóváhagyta ({approval}): {entity} {record}.",
        "notice_rejected": "Elutasítva: {approval} – {record}",
        "notice_rejected_body": "{decider} elutasította ({approval}): {entity} {record}. Indoklás: {reason}",
        "notice_expired": "Lejárt: {approval} – {record}",
        "notice_expired_body": "Senki sem döntött időben ({approval}): {entity} {record}; a kérés lejárt. "
                               "A rekord módosításával újra kérheti.",
        "somebody": "Valaki",
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
