"""Small configurations built in code, and tables for them, for expression tests.

    config = make_config(entities={"deal": {"amount": "money", "account": {"type": "link", "entity": "account"}},
                                   "account": {"name": "string"}})

Tables follow the engine's storage conventions (docs/expressions.md): one
table per entity, system columns, ids in link and user columns, JSON text
for multichoice, `crm_users` for users. Only tests build schemas this way.
"""
from __future__ import annotations

from typing import Any, Mapping

import sqlalchemy as sa

from engine.metadata import model as m
from engine.metadata.errors import Location
from engine.metadata.yamlsafe import SourceDoc

FieldSpec = str | Mapping[str, Any] | m.Field


def make_field(name: str, spec: FieldSpec) -> m.Field:
    if isinstance(spec, m.Field):
        return spec
    options = dict(spec) if isinstance(spec, Mapping) else {"type": spec}
    if "options" in options:
        options["options"] = {key: m.Label({"*": key}) for key in options["options"]}
    return m.Field(name=name, label=m.label_from_name(name), loc=Location(f"<test>/{name}"), **options)


def make_entity(name: str, fields: Mapping[str, FieldSpec], traits: tuple[str, ...] = ()) -> m.Entity:
    built = {n: make_field(n, s) for n, s in fields.items()}
    if "owned" in traits:
        built.setdefault("owner", make_field("owner", "user"))
        built.setdefault("team", make_field("team", "string"))
    return m.Entity(
        name=name, label=m.label_from_name(name), plural=m.label_from_name(name),
        title=next(iter(built), "id"), traits=frozenset(traits), fields=built, validations=(),
        views=m.Views(list=m.ListView(columns=tuple(built)), form=()), segments={}, indexes=(),
        source=SourceDoc(f"<test>/entities/{name}.yaml", {}))


def make_pipeline(name: str, entity: str, stages: list[tuple[str, int, str | None]]) -> m.Pipeline:
    return m.Pipeline(
        name=name, entity=entity,
        stages=tuple(m.Stage(key, m.label_from_name(key), prob, closed, m.Requires())  # type: ignore[arg-type]
                     for key, prob, closed in stages),
        transitions="forward_or_lost", follow_up=(), source=SourceDoc(f"<test>/pipelines/{name}.yaml", {}))


def make_config(entities: Mapping[str, Mapping[str, FieldSpec]], *,
                pipelines: Mapping[str, m.Pipeline] | None = None,
                traits: Mapping[str, tuple[str, ...]] | None = None,
                timezone: str = "Europe/Budapest", week_starts: str = "monday",
                fiscal_year_start: tuple[int, int] = (1, 1)) -> m.Config:
    company = m.Company(name="Test Kft.", locales=("en",), currency="HUF", timezone=timezone,
                        week_starts=week_starts, fiscal_year_start=fiscal_year_start,
                        channels=m.Channels(), source=SourceDoc("<test>/crm.yaml", {}))
    return m.Config(
        root="<test>", company=company, roles={},
        entities={n: make_entity(n, f, (traits or {}).get(n, ())) for n, f in entities.items()},
        pipelines=dict(pipelines or {}), approvals={}, alerts={}, reports={}, kpis={}, quotas={},
        dashboards={}, templates={}, tests=(), files={}, revision="test")


_COLUMN_TYPES = {
    "string": sa.String(255), "text": sa.Text(), "email": sa.String(255), "phone": sa.String(64),
    "url": sa.String(1000), "choice": sa.String(40), "autonumber": sa.String(64), "stage": sa.String(40),
    "int": sa.BigInteger(), "rating": sa.Integer(), "decimal": sa.Numeric(18, 2),
    "money": sa.Numeric(18, 2), "percent": sa.Numeric(9, 4), "bool": sa.Boolean(), "date": sa.Date(),
    "datetime": sa.DateTime(timezone=True), "multichoice": sa.Text(), "link": sa.BigInteger(),
    "user": sa.BigInteger(),
}


def make_tables(config: m.Config, metadata: sa.MetaData | None = None) -> dict[str, sa.Table]:
    """SQLAlchemy tables for `config` and `crm_users` (no foreign keys: tests insert freely)."""
    metadata = metadata if metadata is not None else sa.MetaData()
    tables = {"crm_users": sa.Table(
        "crm_users", metadata, sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        *(sa.Column(c, sa.String(255)) for c in ("username", "full_name", "email", "phone", "locale", "team")),
        sa.Column("active", sa.Boolean))}
    for entity in config.entities.values():
        columns = [sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
                   sa.Column("created_at", sa.DateTime(timezone=True)),
                   sa.Column("updated_at", sa.DateTime(timezone=True)),
                   sa.Column("created_by", sa.BigInteger), sa.Column("updated_by", sa.BigInteger),
                   sa.Column("version", sa.Integer)]
        columns += [sa.Column(f.name, _COLUMN_TYPES[f.type]) for f in entity.fields.values() if f.stored]
        tables[entity.name] = sa.Table(entity.name, metadata, *columns)
    return tables
