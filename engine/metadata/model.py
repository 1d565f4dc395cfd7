"""The configuration as frozen, typed objects.

Built once from shape-checked YAML (see `build.py`); nothing after loading
reads raw dicts. Every document object keeps its `source` (a SourceDoc) so a
check can point at the exact line of any value inside it.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from .errors import Location
from .yamlsafe import SourceDoc

FIELD_TYPES = (
    "string", "text", "int", "decimal", "money", "percent", "bool", "date", "datetime",
    "choice", "multichoice", "email", "phone", "url", "link", "user", "lines", "file",
    "formula", "rollup", "autonumber", "stage", "rating",
)
# Types whose values live in a column of the entity's own table.
STORED_TYPES = frozenset(FIELD_TYPES) - {"lines", "formula", "rollup", "file"}
TEXT_TYPES = frozenset({"string", "text", "email", "phone", "url", "choice", "autonumber", "stage"})
NUMBER_TYPES = frozenset({"int", "decimal", "money", "percent", "rating"})
SYSTEM_COLUMNS = ("id", "created_at", "created_by", "updated_at", "updated_by", "version")
TRAITS = ("owned", "timeline", "calendar", "task", "commentable", "attachments",
          "document_library", "survey")


@dataclass(frozen=True, slots=True)
class Label:
    """Text per locale. `text(locale)` falls back to the default locale, then any."""

    texts: Mapping[str, str]

    def text(self, locale: str | None = None, fallback: str | None = None) -> str:
        if locale and locale in self.texts:
            return self.texts[locale]
        if fallback and fallback in self.texts:
            return self.texts[fallback]
        return next(iter(self.texts.values()), "")

    def __str__(self) -> str:
        return self.text()


def label_from_name(name: str) -> Label:
    """`annual_revenue` -> "Annual revenue", for every locale."""
    words = name.replace("_", " ").strip()
    return Label({"*": words[:1].upper() + words[1:]})


@dataclass(frozen=True, slots=True, eq=False)
class Field:
    name: str
    type: str
    label: Label
    loc: Location
    required: bool = False
    default: Any = None
    help: Label | None = None
    unique: bool = False
    index: bool = False
    search: bool = False
    readonly: bool = False
    renamed_from: str | None = None
    max_length: int | None = None
    pattern: str | None = None
    min: Any = None                      # number, or an expression text for dates
    max: Any = None
    scale: int = 2
    currency: str | None = None
    options: Mapping[str, Label] = field(default_factory=dict)   # choice, multichoice
    entity: str | None = None            # link / lines target
    on_delete: str = "restrict"
    filter: str | None = None            # link choices, rollup rows
    multiple: bool = False               # file
    max_size: int | None = None          # file, bytes
    accept: tuple[str, ...] = ()         # file extensions
    expr: str | None = None              # formula, rollup
    result: str | None = None            # formula, rollup result type
    of: str | None = None                # rollup source
    format: str | None = None            # autonumber
    pipeline: str | None = None          # stage
    system: bool = False                 # added by the engine (owner/team of `owned`)

    @property
    def stored(self) -> bool:
        return self.type in STORED_TYPES

    @property
    def value_type(self) -> str:
        """The type of the value: `result` for computed fields, else `type`."""
        return self.result or ("decimal" if self.type in ("formula", "rollup") else self.type)


@dataclass(frozen=True, slots=True, eq=False)
class Validation:
    rule: str
    message: Label
    loc: Location


@dataclass(frozen=True, slots=True, eq=False)
class ListView:
    columns: tuple[str, ...]
    sort: str | None = None              # field name, '-' prefix for descending
    filters: tuple[str, ...] = ()        # field names or link paths (account.industry)
    page_size: int = 50


@dataclass(frozen=True, slots=True, eq=False)
class FormSection:
    label: Label | None
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Views:
    list: ListView
    form: tuple[FormSection, ...]
    related: tuple[str, ...] = ()
    charts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class Segment:
    name: str
    label: Label
    filter: str


@dataclass(frozen=True, slots=True, eq=False)
class ScoringRule:
    when: str
    points: int


@dataclass(frozen=True, slots=True, eq=False)
class Scoring:
    field: str
    rules: tuple[ScoringRule, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Target:
    """Whom something goes to: a team, a role (optionally the owner's team), a user."""

    team: str | None = None
    role: str | None = None
    user: str | None = None
    same_team: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class AssignmentRule:
    when: str
    to: Target


@dataclass(frozen=True, slots=True, eq=False)
class Assignment:
    strategy: Literal["round_robin", "least_loaded", "by_rule"]
    among: Target | None
    rules: tuple[AssignmentRule, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class ConversionStep:
    entity: str
    map: Mapping[str, str]               # target field -> expression
    match_on: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class Conversion:
    name: str
    label: Label
    when: str | None
    create: tuple[ConversionStep, ...]
    then_set: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, eq=False)
class DocumentSpec:
    name: str
    template: str
    format: str
    filename: str


@dataclass(frozen=True, slots=True, eq=False)
class Entity:
    name: str
    label: Label
    plural: Label
    title: str
    traits: frozenset[str]
    fields: Mapping[str, Field]
    validations: tuple[Validation, ...]
    views: Views
    segments: Mapping[str, Segment]
    indexes: tuple[tuple[str, ...], ...]
    source: SourceDoc
    scoring: Scoring | None = None
    assignment: Assignment | None = None
    conversions: Mapping[str, Conversion] = field(default_factory=dict)
    documents: Mapping[str, DocumentSpec] = field(default_factory=dict)
    renamed_from: str | None = None

    @property
    def table(self) -> str:
        return self.name

    def links(self) -> list[Field]:
        return [f for f in self.fields.values() if f.type == "link"]


@dataclass(frozen=True, slots=True, eq=False)
class ActivityRequirement:
    kind: str
    min: int = 1


@dataclass(frozen=True, slots=True, eq=False)
class RelatedRequirement:
    entity: str
    min: int = 1


@dataclass(frozen=True, slots=True, eq=False)
class Requires:
    fields: tuple[str, ...] = ()
    activities: tuple[ActivityRequirement, ...] = ()
    related: tuple[RelatedRequirement, ...] = ()
    approvals: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class Stage:
    key: str
    label: Label
    probability: int
    closed: Literal["won", "lost"] | None
    requires: Requires

    @property
    def open(self) -> bool:
        return self.closed is None


@dataclass(frozen=True, slots=True, eq=False)
class Transition:
    sources: tuple[str, ...]
    targets: tuple[str, ...]


@dataclass(frozen=True, slots=True, eq=False)
class FollowUp:
    when: str
    max_idle: dt.timedelta
    alert: str | None


@dataclass(frozen=True, slots=True, eq=False)
class Forecast:
    """A pipeline's `forecast:` (an engine extension, docs/reports.md "Forecasting").

    Field names left out are inferred (engine/metadata/forecasts.py): `amount`
    the entity's first money field, `close_date` its first date field.
    """

    amount: str | None = None
    close_date: str | None = None
    owner: str = "owner"
    quota: str | None = None          # "quota" or "quota.target": won is measured against it
    commit: int = 75                  # open deals at this probability or above are "commit"


@dataclass(frozen=True, slots=True, eq=False)
class Pipeline:
    name: str
    entity: str
    stages: tuple[Stage, ...]
    transitions: str | tuple[Transition, ...]   # 'forward_or_lost', 'any', or explicit
    follow_up: tuple[FollowUp, ...]
    source: SourceDoc
    label: Label | None = None
    forecast: Forecast | None = None

    def stage(self, key: str) -> Stage | None:
        return next((s for s in self.stages if s.key == key), None)


@dataclass(frozen=True, slots=True, eq=False)
class ApprovalStep:
    approvers: Target
    when: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Approval:
    name: str
    entity: str
    when: str
    steps: tuple[ApprovalStep, ...]
    locks: tuple[str, ...]
    expires: dt.timedelta | None
    notify_via: tuple[str, ...]
    source: SourceDoc
    label: Label | None = None


@dataclass(frozen=True, slots=True, eq=False)
class DateTrigger:
    date: str
    before: tuple[dt.timedelta, ...] = ()
    after: tuple[dt.timedelta, ...] = ()
    at: dt.time = dt.time(8, 0)


@dataclass(frozen=True, slots=True, eq=False)
class EventTrigger:
    event: Literal["created", "updated", "deleted", "stage_entered"]
    fields: tuple[str, ...] = ()
    stage: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class ScheduleTrigger:
    """`daily 07:00`, `weekdays 07:00` (Monday to Friday), `weekly monday 07:00`, `monthly 1 07:00`."""

    every: Literal["daily", "weekdays", "weekly", "monthly"]
    at: dt.time
    weekday: int | None = None     # 0 = Monday
    day: int | None = None         # day of month


@dataclass(frozen=True, slots=True, eq=False)
class Recipient:
    field: str | None = None        # a user field of the record
    target: Target | None = None    # a role (optionally same team) or a named user
    via: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class CreateAction:
    entity: str
    map: Mapping[str, str]


@dataclass(frozen=True, slots=True, eq=False)
class Alert:
    name: str
    entity: str
    trigger: DateTrigger | EventTrigger | ScheduleTrigger
    when: str | None
    notify: tuple[Recipient, ...]
    template: str
    also: tuple[CreateAction, ...]
    source: SourceDoc
    label: Label | None = None

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(ch for r in self.notify for ch in r.via)


@dataclass(frozen=True, slots=True, eq=False)
class Param:
    name: str
    type: str
    default: Any = None
    label: Label | None = None


@dataclass(frozen=True, slots=True, eq=False)
class GroupBy:
    field: str
    bucket: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Measure:
    name: str
    expr: str
    format: str | None = None
    label: Label | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Chart:
    type: str
    x: str | None = None
    y: str | None = None
    series: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Report:
    name: str
    label: Label
    entity: str
    filter: str | None
    params: Mapping[str, Param]
    where_params: str | None
    group_by: tuple[GroupBy, ...]
    measures: Mapping[str, Measure]
    chart: Chart | None
    source: SourceDoc


@dataclass(frozen=True, slots=True, eq=False)
class Kpi:
    name: str
    label: Label
    entity: str
    value: str
    format: str | None
    period: str | None
    by: str | None
    filter: str | None
    source: SourceDoc


@dataclass(frozen=True, slots=True, eq=False)
class QuotaTarget:
    name: str
    kpi: str
    target: float


@dataclass(frozen=True, slots=True, eq=False)
class Quota:
    name: str
    label: Label
    period: str
    targets: Mapping[str, QuotaTarget]
    source: SourceDoc


@dataclass(frozen=True, slots=True, eq=False)
class Widget:
    kind: Literal["kpi", "report", "quota", "forecast"]
    name: str
    size: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Digest:
    """A dashboard e-mailed to its roles on a schedule (engine extension, docs/alerts.md "Digests")."""

    schedule: "ScheduleTrigger"
    period: str | None = None         # the dashboard period the digest shows (None: each widget's own)


@dataclass(frozen=True, slots=True, eq=False)
class Dashboard:
    name: str
    label: Label
    roles: tuple[str, ...]
    widgets: tuple[Widget, ...]
    source: SourceDoc
    digest: Digest | None = None


Scope = Literal["none", "own", "team", "all"]


@dataclass(frozen=True, slots=True, eq=False)
class EntityAccess:
    read: Scope = "none"
    create: bool = False
    update: Scope = "none"
    delete: Scope = "none"


@dataclass(frozen=True, slots=True, eq=False)
class Role:
    """A role with inheritance already applied (`entities` is the effective access)."""

    name: str
    label: Label
    inherits: str | None
    all: bool
    entities: Mapping[str, EntityAccess]
    reports: frozenset[str]
    hidden_fields: frozenset[tuple[str, str]]    # (entity, field)
    source: SourceDoc

    def access(self, entity: str) -> EntityAccess:
        if self.all:
            return EntityAccess("all", True, "all", "all")
        return self.entities.get(entity, EntityAccess())


@dataclass(frozen=True, slots=True, eq=False)
class Channels:
    smtp_url: str | None = None
    email_from: str | None = None
    sms_gateway_url: str | None = None
    sms_sender: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Company:
    name: str
    locales: tuple[str, ...]
    currency: str
    timezone: str
    week_starts: str
    fiscal_year_start: tuple[int, int]          # (month, day)
    channels: Channels
    source: SourceDoc

    @property
    def default_locale(self) -> str:
        return self.locales[0]


@dataclass(frozen=True, slots=True, eq=False)
class ScenarioStep:
    """One `given`/`when` step or `expect` check of a scenario test, as written."""

    kind: str                      # user, at, create, update, delete, move, approve, ... / ok, refused, ...
    args: Mapping[str, Any]
    loc: Location


@dataclass(frozen=True, slots=True, eq=False)
class ScenarioTest:
    name: str
    given: tuple[ScenarioStep, ...]
    when: tuple[ScenarioStep, ...]
    expect: tuple[ScenarioStep, ...]
    source: SourceDoc


@dataclass(frozen=True, slots=True, eq=False)
class Template:
    name: str                       # path below templates/, e.g. "contract_renewal.email.html"
    text: str
    file: str


@dataclass(frozen=True, slots=True, eq=False)
class Config:
    """One company's whole configuration. `revision` is the hash of its content."""

    root: str
    company: Company
    roles: Mapping[str, Role]
    entities: Mapping[str, Entity]
    pipelines: Mapping[str, Pipeline]
    approvals: Mapping[str, Approval]
    alerts: Mapping[str, Alert]
    reports: Mapping[str, Report]
    kpis: Mapping[str, Kpi]
    quotas: Mapping[str, Quota]
    dashboards: Mapping[str, Dashboard]
    templates: Mapping[str, Template]
    tests: tuple[ScenarioTest, ...]
    files: Mapping[str, str]        # relative path -> text, everything the revision holds
    revision: str

    def pipeline_for(self, entity: str) -> Pipeline | None:
        return next((p for p in self.pipelines.values() if p.entity == entity), None)

    def stage_field(self, entity: str) -> Field | None:
        ent = self.entities.get(entity)
        return next((f for f in ent.fields.values() if f.type == "stage"), None) if ent else None
