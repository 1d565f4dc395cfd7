"""Shape-checked YAML documents -> the frozen model of `model.py`.

Runs only on documents that passed the JSON Schema layer, so it may trust the
structure; what it still checks is what a schema cannot (a schedule's words,
a fiscal year start that is a real date). Defaults the spec leaves to the
engine are decided here, in one place:

- a missing label is derived from the name;
- a missing list view shows the title and the next four stored fields;
- a missing form has one section with every editable field;
- `owned` adds `owner` (user, defaults to the acting user) and `team`.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Callable

from . import model as m
from .errors import ErrorSink
from .yamlsafe import SourceDoc, dotted

_DURATION = re.compile(r"^(\d+)([dwhm])$")
_UNITS = {"d": "days", "w": "weeks", "h": "hours", "m": "minutes"}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB)$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_duration(text: str) -> dt.timedelta:
    """`30d`, `2w`, `12h`, `45m` -> timedelta (the schema guarantees the form)."""
    match = _DURATION.match(str(text).strip())
    if not match:
        raise ValueError(f"'{text}' is not a duration")
    return dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_size(text: str | int) -> int:
    if isinstance(text, int):
        return text
    match = _SIZE.match(str(text).strip())
    if not match:
        raise ValueError(f"'{text}' is not a size")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


def parse_time(text: str) -> dt.time:
    hours, _, minutes = str(text).partition(":")
    return dt.time(int(hours), int(minutes or 0))


def label_of(value: Any, name: str) -> m.Label:
    if value is None:
        return m.label_from_name(name)
    if isinstance(value, str):
        return m.Label({"*": value})
    return m.Label(dict(value))


def _opt_label(value: Any) -> m.Label | None:
    if value is None:
        return None
    return m.Label({"*": value}) if isinstance(value, str) else m.Label(dict(value))


def _as_tuple(value: Any) -> tuple:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)


def _target(value: Any) -> m.Target | None:
    if value is None:
        return None
    if isinstance(value, str):
        return m.Target(user=value)
    return m.Target(team=value.get("team") if value.get("team") != "same" else None,
                    role=value.get("role"), user=value.get("user"),
                    same_team=value.get("team") == "same")


class Builder:
    """Builds model objects, reporting what the schema cannot see into `sink`."""

    def __init__(self, sink: ErrorSink):
        self.sink = sink

    def _guard(self, doc: SourceDoc, path: tuple, fn: Callable[[], Any], default: Any = None) -> Any:
        try:
            return fn()
        except (ValueError, TypeError) as exc:
            self.sink.add(doc.loc(path), "CRM-E222", dotted(path), str(exc))
            return default

    # -- crm.yaml ---------------------------------------------------------------
    def company(self, doc: SourceDoc) -> m.Company:
        d = doc.data
        channels = d.get("channels") or {}
        email, sms = channels.get("email") or {}, channels.get("sms") or {}
        fiscal = self._guard(doc, ("fiscal_year_start",),
                             lambda: _month_day(str(d.get("fiscal_year_start", "01-01"))), (1, 1))
        timezone = d.get("timezone", "UTC")
        self._guard(doc, ("timezone",), lambda: _zone(timezone))
        return m.Company(
            name=d["company"], locales=tuple(d.get("locales") or ["en"]),
            currency=d.get("currency", "EUR"), timezone=timezone,
            week_starts=d.get("week_starts", "monday"), fiscal_year_start=fiscal,
            channels=m.Channels(smtp_url=email.get("smtp_url"), email_from=email.get("from"),
                                sms_gateway_url=sms.get("gateway_url"), sms_sender=sms.get("sender")),
            source=doc)

    # -- roles.yaml -------------------------------------------------------------
    def roles(self, doc: SourceDoc) -> dict[str, m.Role]:
        raw: dict[str, dict] = doc.data.get("roles") or {}
        resolved: dict[str, m.Role] = {}

        def effective(name: str, trail: tuple[str, ...]) -> dict[str, dict]:
            spec = raw[name]
            parent = spec.get("inherits")
            base: dict[str, dict] = {}
            if parent in raw and parent not in trail:   # cycles are reported by check.py
                base = {k: dict(v) for k, v in effective(parent, trail + (name,)).items()}
            for entity, access in (spec.get("entities") or {}).items():
                base.setdefault(entity, {}).update(access)
            return base

        def inherited(name: str, key: str, trail: tuple[str, ...]) -> list:
            spec = raw[name]
            parent = spec.get("inherits")
            own = list(spec.get(key) or [])
            if parent in raw and parent not in trail:
                return inherited(parent, key, trail + (name,)) + own
            return own

        for name, spec in raw.items():
            access = {
                entity: m.EntityAccess(read=a.get("read", "none"), create=bool(a.get("create", False)),
                                       update=a.get("update", "none"), delete=a.get("delete", "none"))
                for entity, a in effective(name, ()).items()
            }
            hidden = set()
            for item in inherited(name, "hidden_fields", ()):
                entity, _, fname = str(item).partition(".")
                hidden.add((entity, fname))
            resolved[name] = m.Role(
                name=name, label=label_of(spec.get("label"), name), inherits=spec.get("inherits"),
                all=bool(spec.get("all", False)), entities=access,
                reports=frozenset(inherited(name, "reports", ())), hidden_fields=frozenset(hidden),
                source=doc)
        return resolved

    # -- entities ---------------------------------------------------------------
    def entity(self, doc: SourceDoc) -> m.Entity:
        d = doc.data
        name = d["entity"]
        traits = frozenset(d.get("traits") or [])
        fields: dict[str, m.Field] = {}
        for fname, fspec in (d.get("fields") or {}).items():
            fields[fname] = self.field(doc, ("fields", fname), fname, fspec)
        if "owned" in traits:
            here = doc.loc(("traits",))
            fields.setdefault("owner", m.Field("owner", "user", m.label_from_name("owner"), here,
                                               default=None if d.get("assignment") else "current_user",
                                               index=True, system=True))
            fields.setdefault("team", m.Field("team", "string", m.label_from_name("team"), here,
                                              max_length=40, index=True, system=True))
        title = d.get("title") or next(
            (f for f in fields if fields[f].type in ("string", "autonumber")), next(iter(fields), "id"))
        views = self.views(doc, d.get("views") or {}, fields, title)
        return m.Entity(
            name=name, label=label_of(d.get("label"), name),
            plural=label_of(d.get("plural"), name + "s") if d.get("plural") else _plural(label_of(d.get("label"), name)),
            title=title, traits=traits, fields=fields,
            validations=tuple(
                m.Validation(v["rule"], label_of(v.get("message"), "invalid"), doc.loc(("validations", i, "rule")))
                for i, v in enumerate(d.get("validations") or [])),
            views=views,
            segments={k: m.Segment(k, label_of(s.get("label"), k), s["filter"])
                      for k, s in (d.get("segments") or {}).items()},
            indexes=tuple(tuple(ix) for ix in d.get("indexes") or []),
            source=doc,
            scoring=self.scoring(d.get("scoring")),
            assignment=self.assignment(d.get("assignment")),
            conversions={k: self.conversion(k, c) for k, c in (d.get("conversion") or {}).items()},
            documents={k: m.DocumentSpec(k, v["template"], v.get("format", "pdf"),
                                         v.get("filename", "{id}." + v.get("format", "pdf")))
                       for k, v in (d.get("documents") or {}).items()},
            renamed_from=d.get("renamed_from"),
        )

    def field(self, doc: SourceDoc, path: tuple, name: str, spec: dict) -> m.Field:
        ftype = spec["type"]
        options = spec.get("options")
        if isinstance(options, list):
            options = {str(k): m.label_from_name(str(k)) for k in options}
        elif isinstance(options, dict):
            options = {str(k): label_of(v, str(k)) for k, v in options.items()}
        max_size = spec.get("max_size")
        if max_size is not None:
            max_size = self._guard(doc, path + ("max_size",), lambda: parse_size(max_size))
        minimum, maximum = spec.get("min"), spec.get("max")
        if ftype == "percent":
            minimum = 0 if minimum is None else minimum
            maximum = 100 if maximum is None else maximum
        if ftype == "rating" and maximum is None:
            maximum = 5
        return m.Field(
            name=name, type=ftype, label=label_of(spec.get("label"), name), loc=doc.key_loc(path),
            required=bool(spec.get("required", False)), default=spec.get("default"),
            help=_opt_label(spec.get("help")), unique=bool(spec.get("unique", False)),
            index=bool(spec.get("index", False)), search=bool(spec.get("search", False)),
            readonly=bool(spec.get("readonly", False)) or ftype in ("formula", "rollup", "autonumber"),
            renamed_from=spec.get("renamed_from"),
            max_length=spec.get("max_length", 255 if ftype == "string" else None),
            pattern=spec.get("pattern"), min=minimum, max=maximum, scale=spec.get("scale", 2),
            currency=spec.get("currency"), options=options or {}, entity=spec.get("entity"),
            on_delete=spec.get("on_delete", "restrict"), filter=spec.get("filter"),
            multiple=bool(spec.get("multiple", False)), max_size=max_size,
            accept=tuple(str(a).lower().lstrip(".") for a in spec.get("accept") or []),
            expr=spec.get("expr"), result=spec.get("result"), of=spec.get("of"),
            format=spec.get("format"), pipeline=spec.get("pipeline"),
        )

    def views(self, doc: SourceDoc, spec: dict, fields: dict[str, m.Field], title: str) -> m.Views:
        lst = spec.get("list") or {}
        shown = [f for f, fd in fields.items() if fd.type not in ("lines", "file", "text")]
        default_columns = [title] + [f for f in shown if f != title][:4]
        list_view = m.ListView(
            columns=tuple(lst.get("columns") or default_columns), sort=lst.get("sort"),
            filters=tuple(lst.get("filters") or ()), page_size=int(lst.get("page_size", 50)))
        form = spec.get("form") or {}
        sections = tuple(
            m.FormSection(_opt_label(s.get("label")), tuple(s.get("fields") or ()))
            for s in form.get("sections") or [])
        if not sections:
            editable = tuple(f for f, fd in fields.items() if not fd.readonly and fd.type != "stage"
                             and f != "team")
            sections = (m.FormSection(None, editable),)
        detail = spec.get("detail") or {}
        return m.Views(list=list_view, form=sections, related=tuple(detail.get("related") or ()),
                       charts=tuple(detail.get("charts") or ()))

    def scoring(self, spec: dict | None) -> m.Scoring | None:
        if not spec:
            return None
        return m.Scoring(spec.get("field", "score"),
                         tuple(m.ScoringRule(r["when"], int(r["points"])) for r in spec.get("rules") or []))

    def assignment(self, spec: dict | None) -> m.Assignment | None:
        if not spec:
            return None
        return m.Assignment(spec.get("strategy", "round_robin"), _target(spec.get("among")),
                            tuple(m.AssignmentRule(r["when"], _target(r["to"])) for r in spec.get("rules") or []))

    def conversion(self, name: str, spec: dict) -> m.Conversion:
        return m.Conversion(
            name=name, label=label_of(spec.get("label"), name), when=spec.get("when"),
            create=tuple(m.ConversionStep(c["entity"], {k: str(v) for k, v in (c.get("map") or {}).items()},
                                          tuple(c.get("match_on") or ()))
                         for c in spec.get("create") or []),
            then_set=dict((spec.get("then") or {}).get("set") or {}))

    # -- pipelines --------------------------------------------------------------
    def pipeline(self, doc: SourceDoc) -> m.Pipeline:
        d = doc.data
        stages = []
        for s in d.get("stages") or []:
            req = s.get("requires") or {}
            stages.append(m.Stage(
                key=s["key"], label=label_of(s.get("label"), s["key"]),
                probability=int(s.get("probability", 0)), closed=s.get("closed"),
                requires=m.Requires(
                    fields=tuple(req.get("fields") or ()),
                    activities=tuple(m.ActivityRequirement(a["kind"], int(a.get("min", 1)))
                                     for a in req.get("activities") or []),
                    related=tuple(m.RelatedRequirement(r["entity"], int(r.get("min", 1)))
                                  for r in req.get("related") or []),
                    approvals=tuple(req.get("approvals") or ()))))
        transitions = d.get("transitions", "forward_or_lost")
        if isinstance(transitions, list):
            transitions = tuple(m.Transition(_as_tuple(t["from"]), _as_tuple(t["to"])) for t in transitions)
        follow_up = tuple(
            m.FollowUp(f["when"], self._guard(doc, ("follow_up", i, "max_idle"),
                                              lambda f=f: parse_duration(f["max_idle"]), dt.timedelta(days=1)),
                       f.get("alert"))
            for i, f in enumerate(d.get("follow_up") or []))
        forecast = d.get("forecast")
        return m.Pipeline(d["pipeline"], d["entity"], tuple(stages), transitions, follow_up, doc,
                          label=_opt_label(d.get("label")),
                          forecast=m.Forecast(forecast.get("amount"), forecast.get("close_date"),
                                              forecast.get("owner", "owner"), forecast.get("quota"),
                                              int(forecast.get("commit", 75)))
                          if isinstance(forecast, dict) else None)

    # -- approvals --------------------------------------------------------------
    def approval(self, doc: SourceDoc) -> m.Approval:
        d = doc.data
        expires = d.get("expires")
        return m.Approval(
            name=d["approval"], entity=d["entity"], when=d["when"],
            steps=tuple(m.ApprovalStep(_target(s["approvers"]), s.get("when")) for s in d.get("steps") or []),
            locks=tuple(d.get("locks") or ()),
            expires=self._guard(doc, ("expires",), lambda: parse_duration(expires)) if expires else None,
            notify_via=tuple((d.get("notify") or {}).get("via") or ("in_app",)),
            source=doc, label=_opt_label(d.get("label")))

    # -- alerts -----------------------------------------------------------------
    def alert(self, doc: SourceDoc) -> m.Alert:
        d = doc.data
        t = d["trigger"]
        trigger: m.DateTrigger | m.EventTrigger | m.ScheduleTrigger
        if "date" in t:
            trigger = m.DateTrigger(
                date=t["date"],
                before=tuple(self._guard(doc, ("trigger", "before"), lambda v=v: parse_duration(v), dt.timedelta())
                             for v in _as_tuple(t.get("before"))),
                after=tuple(self._guard(doc, ("trigger", "after"), lambda v=v: parse_duration(v), dt.timedelta())
                            for v in _as_tuple(t.get("after"))),
                at=self._guard(doc, ("trigger", "at"), lambda: parse_time(t.get("at", "08:00")), dt.time(8)))
            if not trigger.before and not trigger.after:
                trigger = m.DateTrigger(trigger.date, (), (dt.timedelta(),), trigger.at)  # on the day itself
        elif "event" in t:
            trigger = m.EventTrigger(t["event"], tuple(t.get("fields") or ()), t.get("stage"))
        else:
            trigger = self._guard(doc, ("trigger", "schedule"), lambda: parse_schedule(t["schedule"]),
                                  m.ScheduleTrigger("daily", dt.time(8)))
        notify = []
        for r in d.get("notify") or []:
            to = r["to"]
            via = tuple(r.get("via") or ("in_app",))
            if isinstance(to, str):
                notify.append(m.Recipient(field=to, via=via))
            else:
                notify.append(m.Recipient(target=_target(to), via=via))
        return m.Alert(
            name=d["alert"], entity=d["entity"], trigger=trigger, when=d.get("when"),
            notify=tuple(notify), template=d.get("template", d["alert"]),
            also=tuple(m.CreateAction(a["create"], {k: str(v) for k, v in (a.get("map") or {}).items()})
                       for a in d.get("also") or []),
            source=doc, label=_opt_label(d.get("label")))

    # -- reports, KPIs, quotas, dashboards -------------------------------------
    def report(self, doc: SourceDoc) -> m.Report:
        d = doc.data
        chart = d.get("chart")
        return m.Report(
            name=d["report"], label=label_of(d.get("label"), d["report"]), entity=d["entity"],
            filter=d.get("filter"),
            params={k: m.Param(k, p["type"], p.get("default"), _opt_label(p.get("label")))
                    for k, p in (d.get("params") or {}).items()},
            where_params=d.get("where_params"),
            group_by=tuple(m.GroupBy(g) if isinstance(g, str) else m.GroupBy(g["field"], g.get("bucket"))
                           for g in d.get("group_by") or []),
            measures={k: m.Measure(k, v["expr"], v.get("format"), _opt_label(v.get("label")))
                      for k, v in (d.get("measures") or {}).items()},
            chart=m.Chart(chart["type"], chart.get("x"), chart.get("y"), chart.get("series")) if chart else None,
            source=doc)

    def kpi(self, doc: SourceDoc) -> m.Kpi:
        d = doc.data
        return m.Kpi(d["kpi"], label_of(d.get("label"), d["kpi"]), d["entity"], d["value"], d.get("format"),
                     d.get("period"), d.get("by"), d.get("filter"), doc)

    def quota(self, doc: SourceDoc) -> m.Quota:
        d = doc.data
        return m.Quota(d["quota"], label_of(d.get("label"), d["quota"]), d.get("period", "month"),
                       {k: m.QuotaTarget(k, t["kpi"], float(t["target"])) for k, t in (d.get("targets") or {}).items()},
                       doc)

    def dashboard(self, doc: SourceDoc) -> m.Dashboard:
        d = doc.data
        widgets = []
        for w in d.get("widgets") or []:
            kind = next(k for k in ("kpi", "report", "quota", "forecast") if k in w)
            widgets.append(m.Widget(kind, w[kind], w.get("size")))
        digest = d.get("digest")
        if isinstance(digest, dict):
            text = digest.get("schedule", DEFAULT_DIGEST)
            digest = m.Digest(self._guard(doc, ("digest", "schedule"), lambda: parse_schedule(text),
                                          parse_schedule(DEFAULT_DIGEST)), digest.get("period"))
        return m.Dashboard(d["dashboard"], label_of(d.get("label"), d["dashboard"]),
                           tuple(d.get("roles") or ()), tuple(widgets), doc,
                           digest=digest if isinstance(digest, m.Digest) else None)

    # -- scenario tests ---------------------------------------------------------
    def scenario(self, doc: SourceDoc) -> m.ScenarioTest:
        d = doc.data

        def steps(key: str) -> tuple[m.ScenarioStep, ...]:
            out = []
            for i, step in enumerate(d.get(key) or []):
                kind = _step_kind(step)
                out.append(m.ScenarioStep(kind, step, doc.loc((key, i))))
            return tuple(out)

        return m.ScenarioTest(str(d["test"]), steps("given"), steps("when"), steps("expect"), doc)


STEP_KINDS = ("user", "at", "entity", "create", "update", "delete", "move", "approve", "reject",
              "convert", "run_alerts")
CHECK_KINDS = ("ok", "refused", "values", "count", "approval_pending", "notified", "can_read", "can_update")


def _step_kind(step: dict) -> str:
    for kind in STEP_KINDS + CHECK_KINDS:
        if kind in step:
            return "create" if kind == "entity" else kind
    return next(iter(step), "?")


DEFAULT_DIGEST = "weekly monday 07:00"      # a dashboard digest without `schedule`


def parse_schedule(text: str) -> m.ScheduleTrigger:
    """`daily 07:00`, `weekdays 07:00`, `monday 09:30` (= `weekly monday 09:30`),
    `monthly 1 07:00`. The time is optional (08:00)."""
    words = str(text).lower().split()
    if words and words[0] in WEEKDAYS:
        words = ["weekly"] + words
    if not words or words[0] not in ("daily", "weekdays", "weekly", "monthly"):
        raise ValueError(f"'{text}' is not a schedule: write 'daily 07:00', 'monday 07:00' or 'monthly 1 07:00'")
    every, rest = words[0], words[1:]
    weekday = day = None
    if every == "weekly":
        if not rest or rest[0] not in WEEKDAYS:
            raise ValueError(f"'{text}': a weekly schedule names a day, e.g. 'weekly monday 07:00'")
        weekday = WEEKDAYS.index(rest.pop(0))
    if every == "monthly":
        if not rest or not rest[0].isdigit() or not 1 <= int(rest[0]) <= 28:
            raise ValueError(f"'{text}': a monthly schedule names a day 1-28, e.g. 'monthly 1 07:00'")
        day = int(rest.pop(0))
    at = dt.time(8, 0)
    if rest:
        if len(rest) > 1 or not re.match(r"^\d{1,2}:\d{2}$", rest[0]):
            raise ValueError(f"'{text}': the time must be HH:MM")
        at = parse_time(rest[0])
    return m.ScheduleTrigger(every, at, weekday, day)


def _month_day(text: str) -> tuple[int, int]:
    month, _, day = text.partition("-")
    value = dt.date(2001, int(month), int(day))   # a non-leap year: 02-29 is refused
    return value.month, value.day


def _zone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{name}' is not a known time zone (e.g. Europe/Budapest)") from None


def _plural(label: m.Label) -> m.Label:
    """English-ish plural of a label when none is given; other locales keep the singular."""
    out = {}
    for loc, text in label.texts.items():
        if loc in ("*", "en"):
            out[loc] = text[:-1] + "ies" if text.endswith("y") and text[-2:-1] not in "aeiou" else (
                text + "es" if text.endswith(("s", "x", "ch", "sh")) else text + "s")
        else:
            out[loc] = text
    return m.Label(out)

