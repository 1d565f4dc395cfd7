"""UI strings per language: gettext catalogs in `ui/locale/<lang>/LC_MESSAGES/messages.po`.

    catalogs = Catalogs.load(LOCALE_DIR, ["hu", "en"])
    catalogs.get("hu").gettext("Sign in")        # 'Bejelentkezés'

The source strings are English; a language without a catalog (or a string
without a translation) shows the English text. `make install` compiles each
`.po` to a `.mo` (git-ignored); when a `.mo` is missing or older than its
`.po`, the `.po` is compiled in memory here instead, so an edited catalog is
never shadowed by a stale build. Configured labels (entities, fields, roles)
are not in these catalogs: they come from the YAML through `Label.text`
(`label_text`). Only a label nobody wrote, made from a field's name (the
`owner` and `team` fields the `owned` trait adds, or a field without a
`label`), is looked up in the catalog, so "Owner" reads "Felelős" in Hungarian.
"""
from __future__ import annotations

import gettext
import io
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from engine.metadata import model as m

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
NAME_MADE = "*"        # the only key of a label made from a name (m.label_from_name)


def N_(message: str) -> str:
    """Marks a string for `make messages` without translating it here."""
    return message


# The labels of the fields the engine adds, as m.label_from_name writes them: in the catalog.
BUILT_IN_LABELS = (N_("Owner"), N_("Team"))


def label_text(label: m.Label, locale: str, fallback: str | None, gettext: Callable[[str], str]) -> str:
    """A label in the user's language: the configuration's own text, or for a label made from a
    field's name (no text written for any language), the UI catalog's translation of it."""
    text = label.text(locale, fallback)
    if len(label.texts) == 1 and NAME_MADE in label.texts:
        return gettext(text)
    return text


class Catalogs:
    """The compiled UI catalogs of the company's languages, loaded once at start-up."""

    def __init__(self, by_locale: dict[str, gettext.NullTranslations]):
        self._by_locale = by_locale
        self._fallback = gettext.NullTranslations()
        self._memories: dict[str, Translated] = {}

    @classmethod
    def load(cls, directory: Path, locales: Iterable[str]) -> "Catalogs":
        return cls({locale: _load_one(directory, locale) for locale in locales})

    def get(self, locale: str) -> gettext.NullTranslations:
        return self._by_locale.get(locale, self._fallback)

    def memory(self, locale: str) -> "Translated":
        """Where the templates keep the messages of `get(locale)` they have translated."""
        found = self._memories.get(locale)
        if found is None:
            found = self._memories.setdefault(locale, Translated(self.get(locale)))
        return found


@dataclass(frozen=True, slots=True)
class Translated:
    """Messages of one catalog as templates print them (templating._translated), kept for
    as long as the catalog: a new configuration revision loads new catalogs."""

    translations: gettext.NullTranslations
    answers: dict[tuple[str, bool], str] = field(default_factory=dict)


def _load_one(directory: Path, locale: str) -> gettext.NullTranslations:
    folder = directory / locale / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as fp:
            return Translations(fp, domain=DOMAIN)
    if po.exists():
        with po.open("rb") as fp:
            catalog = read_po(fp, locale=locale, domain=DOMAIN)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        return Translations(buffer, domain=DOMAIN)
    return gettext.NullTranslations()


def negotiate(accept_language: str | None, available: Iterable[str], default: str) -> str:
    """The best of `available` for an Accept-Language header (for visitors not signed in)."""
    wanted: list[tuple[float, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        if not tag or tag == "*":
            continue
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        # Sort by quality, then by the order given: stable for equal weights.
        wanted.append((-quality + index * 1e-6, tag.replace("_", "-").lower()))
    choices = list(available)
    for _, tag in sorted(wanted):
        for code in choices:
            if tag == code.lower() or tag.split("-")[0] == code.lower().split("-")[0]:
                return code
    return default


@lru_cache(maxsize=256)
def language_name(locale: str) -> str:
    """The language's own name ('magyar', 'English'), for the language switch (CLDR data, looked
    up once per code: every page's menu names each language)."""
    try:
        return Locale.parse(locale).get_display_name(locale) or locale
    except (UnknownLocaleError, ValueError):
        return locale
