"""The navigation a user sees: what their roles let them open, labelled in their language.

    nav = build_navigation(config, permissions, actor, "hu")
    [item.label for item in nav.entities]      # ['Ügyfelek', 'Üzletek']

- entities: those the user may read (the union of their roles, through
  `Permissions.scope`; admins see all), in configuration order. Entities that
  exist only as the `lines` of another entity (deal lines, quote lines) are
  left out: they are edited inside their parent's form, not on their own.
- dashboards: those naming one of the user's roles, or listed in a role's
  `reports`; admins see all.
- forecasts: those a role of the user lists in `reports`, or a dashboard the
  user may open shows as a widget (the reports service's rule); admins see all.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.metadata import model as m
from engine.metadata.forecasts import forecasts as config_forecasts
from engine.runtime.actor import Actor
from engine.runtime.permissions import Permissions

from . import urls


@dataclass(frozen=True, slots=True)
class NavItem:
    name: str
    label: str
    url: str

    def is_current(self, path: str) -> bool:
        return path == self.url or path.startswith(self.url + "/")


@dataclass(frozen=True, slots=True)
class Navigation:
    entities: tuple[NavItem, ...]
    dashboards: tuple[NavItem, ...]
    forecasts: tuple[NavItem, ...] = ()


def line_entities(config: m.Config) -> frozenset[str]:
    """Entities some `lines` field holds as child rows."""
    return frozenset(f.entity for e in config.entities.values() for f in e.fields.values()
                     if f.type == "lines" and f.entity)


def readable_entities(config: m.Config, permissions: Permissions, actor: Actor) -> list[m.Entity]:
    children = line_entities(config)
    return [e for e in config.entities.values()
            if e.name not in children and permissions.scope(actor, e.name, "read") != "none"]


def visible_dashboards(config: m.Config, permissions: Permissions, actor: Actor) -> list[m.Dashboard]:
    if permissions.is_admin(actor):
        return list(config.dashboards.values())
    roles = permissions.roles_of(actor)
    names = {r.name for r in roles}
    granted = frozenset().union(*(r.reports for r in roles))
    return [d for d in config.dashboards.values() if names & set(d.roles) or d.name in granted]


def visible_forecasts(config: m.Config, permissions: Permissions, actor: Actor) -> list[str]:
    names = list(config_forecasts(config))
    if permissions.is_admin(actor):
        return names
    granted = frozenset().union(*(r.reports for r in permissions.roles_of(actor)))
    shown = {w.name for d in visible_dashboards(config, permissions, actor) for w in d.widgets
             if w.kind == "forecast"}
    return [n for n in names if n in granted or n in shown]


def build_navigation(config: m.Config, permissions: Permissions, actor: Actor, locale: str,
                     url_prefix: str = "") -> Navigation:
    fallback = config.company.default_locale
    return Navigation(
        entities=tuple(NavItem(e.name, e.plural.text(locale, fallback), url_prefix + urls.entity_list(e.name))
                       for e in readable_entities(config, permissions, actor)),
        dashboards=tuple(NavItem(d.name, d.label.text(locale, fallback), url_prefix + urls.dashboard(d.name))
                         for d in visible_dashboards(config, permissions, actor)),
        forecasts=tuple(NavItem(n, _pipeline_label(config, n, locale), url_prefix + urls.forecast(n))
                        for n in visible_forecasts(config, permissions, actor)),
    )


def _pipeline_label(config: m.Config, name: str, locale: str) -> str:
    label = config.pipelines[name].label
    return label.text(locale, config.company.default_locale) if label else m.label_from_name(name).text()
