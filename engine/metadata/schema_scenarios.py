"""The JSON Schema of a scenario test (`tests/<name>.yaml`, spec section 12).

A step or a check is a small mapping whose first key says what it is
(`{move: $d, to: won}`, `{refused: "approval"}`). Each form is a closed
mapping listed under `anyOf`, with that distinguishing key first in its
`required`: the shape layer uses it to report on the form the consultant
meant instead of on all of them.
"""
from __future__ import annotations

from .schema_parts import (
    DATE_OR_DATETIME, RECORD_REF, Schema, any_value, choice, closed, expression, flag, integer,
    list_of, map_of, name, names, one_of_forms, patterned, record_ref, text,
)

CHANNELS: tuple[str, ...] = ("in_app", "email", "sms")


def _as_user() -> Schema:
    return text("The user who performs the step (default: a built-in administrator).")


def _values() -> Schema:
    return map_of(any_value(""), "Field -> literal value; dates as \"YYYY-MM-DD\", $X for a record "
                                 "made earlier in the test.")


def _create(key: str) -> Schema:
    return closed({
        key: name("The entity of the new record."),
        "as": name("A name for the record, used later as $name."),
        "values": _values(),
        "as_user": _as_user(),
    }, required=[key], title=f"{key}: create a record")


def _steps() -> list[Schema]:
    return [
        closed({
            "user": text("The new user's username."),
            "roles": names("The user's roles."),
            "team": name("The user's team (made when missing)."),
            "email": text("E-mail address (default NAME@example.test)."),
            "phone": text("Phone number (default none)."),
        }, required=["user"], title="user: create a user"),
        closed({"at": patterned(DATE_OR_DATETIME, "The clock for the following steps "
                                                  "(company timezone).")},
               required=["at"], title="at: set the clock"),
        _create("entity"),
        _create("create"),
        closed({"update": record_ref("The record to change."), "values": _values(), "as_user": _as_user()},
               required=["update", "values"], title="update: change a record"),
        closed({"delete": record_ref("The record to delete."), "as_user": _as_user()},
               required=["delete"], title="delete: delete a record"),
        closed({"move": record_ref("The record to move."), "to": name("The stage to enter."),
                "as_user": _as_user()},
               required=["move", "to"], title="move: change a record's stage"),
        closed({"approve": name("The approval."), "record": record_ref("The record."),
                "as_user": _as_user()},
               required=["approve", "record"], title="approve: approve a pending request"),
        closed({"reject": name("The approval."), "record": record_ref("The record."),
                "reason": text("Why (rejecting needs a reason)."), "as_user": _as_user()},
               required=["reject", "record"], title="reject: reject a pending request"),
        closed({"convert": record_ref("The record to convert."), "action": name("The conversion action."),
                "as_user": _as_user()},
               required=["convert", "action"], title="convert: run a conversion"),
        closed({"run_alerts": {"const": True, "description": "Run every alert due at the clock's time."}},
               required=["run_alerts"], title="run_alerts: run due alerts"),
    ]


def _user_record_check(what: str) -> Schema:
    return closed({
        "user": text("The user."),
        "record": record_ref("The record."),
        "equals": flag(f"Whether the user may {what} it."),
    }, required=["user", "record", "equals"], description=f"Whether a user may {what} a record.")


def _checks() -> list[Schema]:
    return [
        closed({"ok": {"const": True, "description": "Every `when` step succeeded."}},
               required=["ok"], title="ok: every step succeeded"),
        closed({"refused": text("Text the refusal message contains (case-insensitive).")},
               required=["refused"], title="refused: a step was refused"),
        closed({"values": map_of(map_of(any_value(""), "Field -> expected value."),
                                 "Record -> its expected values.", keys=RECORD_REF)},
               required=["values"], title="values: a record's current values"),
        closed({"count": closed({
            "entity": name("The entity to count."),
            "filter": expression("Which records count ($X: a record named earlier)."),
            "equals": integer("The expected number.", minimum=0),
        }, required=["entity", "equals"], description="How many records of an entity match a filter.")}, required=["count"], title="count: how many records match"),
        closed({"approval_pending": name("The approval."), "record": record_ref("The record.")},
               required=["approval_pending", "record"], title="approval_pending: a request is pending"),
        closed({"notified": closed({
            "user": text("The recipient."),
            "alert": name("Only messages of this alert."),
            "via": choice(CHANNELS, "Channel", "Only messages sent this way."),
            "count": integer("The expected number of messages (default: at least one).", minimum=0),
        }, required=["user"], description="Messages sent to a user.")}, required=["notified"], title="notified: messages sent"),
        closed({"can_read": _user_record_check("read")},
               required=["can_read"], title="can_read: read permission"),
        closed({"can_update": _user_record_check("update")},
               required=["can_update"], title="can_update: update permission"),
    ]


def scenario_properties() -> dict[str, Schema]:
    """The top-level keys of one scenario test."""
    step = one_of_forms("Step", "One step; its first key says what it does.", _steps())
    return {
        "test": text("What the test shows, in words (shown in the test report)."),
        "given": list_of(step, "Steps that set the scene; any refusal fails the test."),
        "when": list_of(step, "Steps under test; refusals are recorded for `expect`."),
        "expect": list_of(one_of_forms("Check", "One check; its first key says what it checks.", _checks()),
                          "Checks that must all hold.", min_items=1),
    }
