"""One JSON Schema (Draft 2020-12) per kind of configuration file.

The schemas are the shape of the configuration language v1: which keys
exist, what type each value has, which words and forms are allowed.
Cross-references and expressions are checked elsewhere. The same schemas serve three readers: `shape.check_shape`
validates with them, `crm schema --out DIR` publishes them for editors
(`# yaml-language-server: $schema=...`), and `docs.render_reference` turns
them into the consultants' reference.

    schema_for("entity")                 # a fresh dict
    kind_of({"pipeline": "sales", ...})  # "pipeline"
    write_schemas(Path("schemas-out"))   # [.../crm.schema.json, ...]
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from .schema_entity import entity_properties
from .schema_parts import (
    CURRENCY, DATE, FIELD_OF_ENTITY, FIELD_PATH, LOCALE, MONTH_DAY, NAME, PERIOD, SCHEDULE, TIME,
    Schema, choice, closed, duration, durations, exclusive, expression, field_path, flag, integer,
    label, list_of, map_of, map_value, name, names, needs_one_of, number, one_or_many, patterned, text,
    text_or, when_equals,
)
from .schema_scenarios import CHANNELS, scenario_properties

KINDS: tuple[str, ...] = (
    "crm", "roles", "entity", "pipeline", "approval", "alert", "report", "kpi", "quota", "dashboard", "test")

# Where each kind lives in a company folder (reports/ holds four kinds).
FILES: dict[str, str] = {
    "crm": "crm.yaml", "roles": "roles.yaml", "entity": "entities/<name>.yaml",
    "pipeline": "pipelines/<name>.yaml", "approval": "approvals/<name>.yaml", "alert": "alerts/<name>.yaml",
    "report": "reports/<name>.yaml", "kpi": "reports/<name>.yaml", "quota": "reports/<name>.yaml",
    "dashboard": "reports/<name>.yaml", "test": "tests/<name>.yaml",
}

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "urn:crm-engine:config:v1:{kind}"

# The top-level key that tells a document's kind, most specific first: `entity`
# and `roles` also appear inside other kinds (a pipeline names its entity, a
# dashboard its roles), so they are looked at last.
_KIND_KEYS: tuple[tuple[str, str], ...] = (
    ("pipeline", "pipeline"), ("approval", "approval"), ("alert", "alert"), ("report", "report"),
    ("kpi", "kpi"), ("quota", "quota"), ("dashboard", "dashboard"), ("test", "test"),
    ("entity", "entity"), ("company", "crm"), ("roles", "roles"),
)

SCOPES = ("none", "own", "team", "all")
PERIOD_LENGTHS = ("day", "week", "month", "quarter", "year")
VALUE_FORMATS = ("int", "decimal", "money", "percent")


def _document(kind: str, description: str, properties: dict[str, Schema],
              required: list[str], **extra: Any) -> Schema:
    """The root of a kind's schema: dialect, id, title, then a closed mapping."""
    body = closed(properties, required=required, **extra)
    return {"$schema": SCHEMA_DIALECT, "$id": SCHEMA_ID.format(kind=kind),
            "title": f"{FILES[kind]} ({kind})", "description": description, **body}


def _recipient(description: str) -> Schema:
    """`{role: R, team: same}` or `{user: username}`."""
    return closed({
        "role": name("Everyone with this role."),
        "team": choice(("same",), "Team rule", "same: only those in the record owner's team."),
        "user": text("One user, by username."),
    }, description=description, allOf=[needs_one_of("role", "user"), *exclusive("role", "user")],
        dependentRequired={"team": ["role"]})


def _via() -> Schema:
    return list_of(choice(CHANNELS, "Channel", ""), "Channels to send through.", min_items=1, unique=True)


def _crm() -> Schema:
    channels = closed({
        "email": closed({
            "smtp_url": text("SMTP server URL; use env:NAME so no secret is written here."),
            "from": text("Sender, like \"CRM <crm@example.hu>\"."),
        }, required=["smtp_url", "from"], description="Outgoing e-mail."),
        "sms": closed({
            "gateway_url": text("SMS gateway URL; use env:NAME so no secret is written here."),
            "sender": text("Sender name or number shown on the phone."),
        }, required=["gateway_url"], description="Outgoing SMS."),
    }, description="How messages leave the engine. env:NAME reads an environment variable at run time.")
    return _document("crm", "Company settings.", {
        "company": text("The company's name."),
        "locales": list_of(patterned(LOCALE, ""), "UI languages; the first is the default.",
                           min_items=1, unique=True),
        "currency": patterned(CURRENCY, "Default currency of money fields (ISO 4217)."),
        "timezone": text("IANA timezone (Europe/Budapest); date-based alerts fire in it."),
        "week_starts": choice(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
                              "Weekday", "First day of the week (default monday)."),
        "fiscal_year_start": patterned(MONTH_DAY, "First day of the fiscal year, MM-DD (default \"01-01\")."),
        "channels": channels,
    }, ["company", "locales", "currency", "timezone"])


def _roles() -> Schema:
    permission = closed({
        "read": choice(SCOPES, "Scope", "Which records the role may see."),
        "create": flag("Whether the role may create records."),
        "update": choice(SCOPES, "Scope", "Which records the role may change."),
        "delete": choice(SCOPES, "Scope", "Which records the role may delete."),
    }, description="Scopes: none, own (owner is the user), team (owner in the user's team), all.")
    role = closed({
        "label": label(),
        "inherits": name("A role whose permissions this one starts from."),
        "all": flag("Every permission, and editing the configuration from the UI."),
        "entities": map_of(permission, "Permissions per entity; entities not named are none."),
        "reports": names("Reports, KPIs and dashboards the role may open."),
        "hidden_fields": list_of(patterned(FIELD_OF_ENTITY, ""),
                                 "Fields never shown, exported or returned by the API (entity.field).",
                                 unique=True),
    })
    return _document("roles", "Roles and what each may see and do.", {
        "roles": map_of(role, "The roles, by name.", min_entries=1),
    }, ["roles"])


def _pipeline() -> Schema:
    requires = closed({
        "fields": names("Fields that must have a value.", min_items=1),
        "activities": list_of(closed({
            "kind": text("Matched against the timeline entity's kind field."),
            "min": integer("How many (default 1).", minimum=1),
        }, required=["kind"]), "Timeline records linked to the record.", min_items=1),
        "related": list_of(closed({
            "entity": name("An entity linking to the record."),
            "min": integer("How many (default 1).", minimum=1),
        }, required=["entity"]), "Records of other entities linking to the record.", min_items=1),
        "approvals": names("Approvals that must be approved (or not required).", min_items=1),
    }, description="What must hold before a record may enter the stage.")
    stage = closed({
        "key": name("The stage's name."),
        "label": label(),
        "probability": number("Chance of winning, 0..100.", minimum=0, maximum=100),
        "closed": choice(("won", "lost"), "Outcome", "Marks a closing stage."),
        "requires": requires,
    }, required=["key"])
    transition = closed({
        "from": one_or_many(NAME, "The stage (or stages) moved from."),
        "to": one_or_many(NAME, "The stage (or stages) that may be entered."),
    }, required=["from", "to"])
    follow_up = closed({
        "when": expression("Which records the rule watches."),
        "max_idle": duration("Idle longer than this (no change to it or its timeline) is flagged."),
        "alert": name("The alert raised once per idle period."),
    }, required=["max_idle"])
    return _document("pipeline", "A stage workflow over an entity.", {
        "pipeline": name("The pipeline's name; also its file's stem."),
        "label": label(),
        "entity": name("The entity whose records move through the stages."),
        "stages": list_of(stage, "The stages, in order; a new record starts in the first.", min_items=2),
        "transitions": {"title": "Transitions", "anyOf": [
            choice(("forward_or_lost", "any"), "Transition rule", ""),
            list_of(transition, "", min_items=1),
        ], "description": "forward_or_lost (default), any, or a list of allowed moves."},
        "follow_up": list_of(follow_up, "Rules flagging idle records."),
        "forecast": closed({
            "amount": name("The money field forecast (default: the entity's first money field)."),
            "close_date": name("The expected close date field (default: the entity's first date field)."),
            "owner": name("The user field the forecast is split by (default owner)."),
            "quota": text("Won is measured against this quota's target: `quota` or `quota.target`."),
            "commit": number("Open deals at this stage probability or above count as commit (default 75).",
                             minimum=0, maximum=100),
        }, description="Engine extension: a forecast of this pipeline (weighted pipeline, best case, "
                       "won vs quota, daily snapshots); its name is the pipeline's."),
    }, ["pipeline", "entity", "stages"])


def _approval() -> Schema:
    step = closed({
        "approvers": _recipient("Who may approve this step."),
        "when": expression("The step applies only when this holds."),
        "label": label(),
    }, required=["approvers"])
    return _document("approval", "An approval rule.", {
        "approval": name("The approval's name; also its file's stem."),
        "label": label(),
        "entity": name("The entity whose records need approval."),
        "when": expression("Evaluated on save; a change that makes it true starts a request "
                           "(omitted: every record needs approval)."),
        "steps": list_of(step, "Approval steps, in order; each must approve.", min_items=1),
        "locks": names("Fields frozen while a request is pending."),
        "expires": duration("An unanswered request expires after this."),
        "notify": closed({"via": _via()}, required=["via"], description="How approvers are told."),
    }, ["approval", "entity", "steps"])


def _alert() -> Schema:
    trigger = closed({
        "date": name("Date trigger: the date or datetime field it counts from."),
        "before": durations("Fire this long before the date (one or a list)."),
        "after": durations("Fire this long after the date (one or a list)."),
        "at": patterned(TIME, "Time of day to fire, company timezone (default \"08:00\")."),
        "event": choice(("created", "updated", "deleted", "stage_entered"), "Event", "Event trigger."),
        "fields": names("For updated: only changes to these fields.", min_items=1),
        "stage": name("For stage_entered: only this stage."),
        "schedule": patterned(SCHEDULE, "Schedule trigger: `when` is checked at these times."),
    }, description="When the alert fires: a date, an event or a schedule.",
        allOf=[needs_one_of("date", "event", "schedule"), *exclusive("date", "event", "schedule"),
               when_equals("event", "stage_entered", {"required": ["stage"]},
                           noun="a stage_entered trigger")],
        dependentRequired={"before": ["date"], "after": ["date"], "at": ["date"],
                           "fields": ["event"], "stage": ["event"]})
    recipient = text_or(NAME, _recipient(""), "Recipient",
                        "A user field of the record (owner), {role: R, team: same}, or {user: username}.")
    action = closed({
        "create": name("The entity of the record to make."),
        "map": map_of(map_value(""), "Field -> expression (text needs quotes: \"'task'\")."),
    }, required=["create"])
    return _document("alert", "An alert trigger.", {
        "alert": name("The alert's name; also its file's stem."),
        "label": label(),
        "entity": name("The entity the alert watches."),
        "trigger": trigger,
        "when": expression("Only records for which this holds."),
        "notify": list_of(closed({"to": recipient, "via": _via()}, required=["to", "via"]),
                          "Who is told, and how.", min_items=1),
        "template": name("Template name: templates/<name>.subject.txt, .email.html, .sms.txt "
                         "(default: the alert's name)."),
        "also": list_of(action, "Actions run once per firing.", min_items=1),
    }, ["alert", "entity", "trigger"], allOf=[needs_one_of("notify", "also")])


def _period_default() -> Schema:
    """A period parameter's default: a period word, {from: DATE, to: DATE}, or null."""
    explicit = closed({"from": patterned(DATE, "First day."), "to": patterned(DATE, "Last day.")},
                      required=["from", "to"])
    schema = text_or(PERIOD, explicit, "Period", "A period (this_quarter, last_30_days), "
                                                 "{from: DATE, to: DATE}, or null.")
    schema["type"] = ["string", "object", "null"]
    return schema


def _report() -> Schema:
    param_types = ("period", "user", "link", "choice", "string", "int", "decimal", "money", "date", "bool")
    param = closed({
        "type": choice(param_types, "Parameter type", "What the parameter holds."),
        "label": label(),
        "default": {"type": ["string", "number", "boolean", "null", "object"],
                    "description": "The value until the user changes it (null: not applied)."},
        "entity": name("For link parameters: the entity."),
        "options": names("For choice parameters: the keys offered.", min_items=1),
    }, required=["type"], allOf=[
        when_equals("type", "period", {"properties": {"default": _period_default()}}),
        when_equals("type", "link", {"required": ["entity"]}, noun="a link parameter"),
        when_equals("type", "choice", {"required": ["options"]}, noun="a choice parameter"),
    ])
    group = text_or(FIELD_PATH, closed({
        "field": field_path("The field to group by."),
        "bucket": choice(PERIOD_LENGTHS + ("fiscal_quarter", "fiscal_year"), "Bucket",
                         "For dates: the bucket size (fiscal ones count from fiscal_year_start)."),
    }, required=["field"]), "Grouping", "A field path, or {field: date_field, bucket: month}.")
    measure = closed({
        "expr": expression("An aggregate: sum(amount), count(), avg(x), count(cond)."),
        "label": label(),
        "format": choice(VALUE_FORMATS, "Value format", "How values are shown."),
    }, required=["expr"])
    chart = closed({
        "type": choice(("bar", "line", "pie", "funnel", "table"), "Chart type", "The chart."),
        "x": field_path("Grouping on the x axis."),
        "y": name("Measure on the y axis."),
        "series": field_path("Grouping drawn as separate series."),
    }, required=["type"], description="The chart shown above the report's table.")
    return _document("report", "A report: grouped measures over an entity.", {
        "report": name("The report's name; also its file's stem."),
        "label": label(),
        "entity": name("The entity reported on."),
        "filter": expression("Which records are included."),
        "params": map_of(param, "Parameters shown as filters on the report page."),
        "where_params": expression("Condition using $param; comparisons with null parameters are dropped."),
        "group_by": list_of(group, "Groupings, outermost first.", min_items=1),
        "measures": map_of(measure, "The values computed per group.", min_entries=1),
        "chart": chart,
    }, ["report", "entity", "measures"], dependentRequired={"where_params": ["params"]})


def _kpi() -> Schema:
    return _document("kpi", "A KPI: one value per period.", {
        "kpi": name("The KPI's name; also its file's stem."),
        "label": label(),
        "entity": name("The entity measured."),
        "value": expression("An aggregate expression: count(stage.won) / count(stage.closed)."),
        "filter": expression("Which records are included."),
        "format": choice(VALUE_FORMATS, "Value format", "How the value is shown."),
        "period": choice(PERIOD_LENGTHS, "Period length", "Compared with the previous period on dashboards."),
        "by": field_path("A user field: per-user values, shown against quotas."),
    }, ["kpi", "entity", "value"])


def _quota() -> Schema:
    target = closed({
        "kpi": name("The KPI measured."),
        "target": number("The norm per user per period.", minimum=0),
        "label": label(),
    }, required=["kpi", "target"])
    return _document("quota", "Norms users must meet, per user per period.", {
        "quota": name("The quota's name; also its file's stem."),
        "label": label(),
        "period": choice(PERIOD_LENGTHS, "Period length", "The period each target applies to."),
        "targets": map_of(target, "The targets, by name.", min_entries=1),
    }, ["quota", "period", "targets"])


def _dashboard() -> Schema:
    widget = closed({
        "kpi": name("A KPI."),
        "report": name("A report."),
        "quota": name("A quota."),
        "forecast": name("A forecast: the name of a pipeline that has `forecast:` (engine extension)."),
        "size": choice(("normal", "wide", "full"), "Widget size", "Width on the page (default normal)."),
        "label": label("Overrides the shown item's label."),
    }, allOf=[needs_one_of("kpi", "report", "quota", "forecast"),
              *exclusive("kpi", "report", "quota", "forecast")])
    digest = closed({
        "schedule": patterned(SCHEDULE, "When it is sent, company timezone (default \"weekly monday 07:00\")."),
        "period": patterned(PERIOD, "The dashboard period shown (default: each widget's own)."),
    }, description="Engine extension: the dashboard e-mailed to its roles' users on a schedule, "
                   "each with their own numbers.")
    return _document("dashboard", "A dashboard of KPIs, reports and quotas.", {
        "dashboard": name("The dashboard's name; also its file's stem."),
        "label": label(),
        "roles": names("Roles for which this dashboard is shown."),
        "widgets": list_of(widget, "The widgets, in order.", min_items=1),
        "digest": digest,
    }, ["dashboard", "widgets"])


def _entity() -> Schema:
    return _document("entity", "An entity: a table with its fields, views and rules.",
                     entity_properties(), ["entity", "fields"])


def _test() -> Schema:
    return _document("test", "A scenario test; a file may hold several, separated by ---.",
                     scenario_properties(), ["test", "expect"])


_BUILDERS: dict[str, Callable[[], Schema]] = {
    "crm": _crm, "roles": _roles, "entity": _entity, "pipeline": _pipeline, "approval": _approval,
    "alert": _alert, "report": _report, "kpi": _kpi, "quota": _quota, "dashboard": _dashboard, "test": _test,
}


def schema_for(kind: str) -> Schema:
    """The JSON Schema of `kind` (one of KINDS); a new dict on every call."""
    try:
        return _BUILDERS[kind]()
    except KeyError:
        raise ValueError(f"unknown document kind {kind!r}; expected one of {', '.join(KINDS)}") from None


def kind_of(data: Any) -> str | None:
    """The kind of a document, from its top-level keys; None when it has none we know."""
    if not isinstance(data, dict):
        return None
    for key, kind in _KIND_KEYS:
        if key in data:
            return kind
    return None


def write_schemas(out_dir: Path) -> list[Path]:
    """Write `<kind>.schema.json` for every kind into `out_dir`; the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in KINDS:
        path = out_dir / f"{kind}.schema.json"
        path.write_text(json.dumps(schema_for(kind), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written
