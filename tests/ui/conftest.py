"""Fixtures of the web UI tests: `site`, a tiny company on a SQLite file (see ui_helpers.py), and
`demo_site`, the default company with demo data served on a loopback port (browser journeys)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from argon2 import PasswordHasher
from browser import served
from ui_helpers import FILES, PASSWORD, Site

from engine.metadata.loader import load_config
from engine.runtime.demo import people
from engine.runtime.demo.company import make_domain
from engine.runtime.demo.run import generate
from engine.runtime.migrate import migrate
from engine.runtime.search import ensure_search_index
from engine.runtime import users as users_module
from engine.runtime.db import make_engine
from engine.runtime.tables import build_tables
from engine.runtime.users import Users
from ui.services import build_services


@pytest.fixture
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2, smallest cost: the users module's hasher swapped for the test."""
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(users_module, "_HASHER", hasher)
    monkeypatch.setattr(users_module, "_DUMMY_HASH", hasher.hash("not a password anyone has"))


@pytest.fixture
def site(write_config: Callable[[dict[str, str]], Path], tmp_path: Path, cheap_argon2: None) -> Iterator[Site]:
    config = load_config(write_config(FILES))
    engine = make_engine(f"sqlite:///{tmp_path / 'ui.sqlite3'}")
    tables = build_tables(config)
    tables.metadata.create_all(engine)
    users = Users(config, engine, tables)
    users.add("anna", roles=["rep"], team="north", full_name="Anna Adams", locale="en", password=PASSWORD)
    users.add("mona", roles=["manager"], team="north", full_name="Mona Molnár", locale="hu", password=PASSWORD)
    users.add("vic", roles=["viewer"], full_name="Vic Viewer", password=PASSWORD)
    users.add("root", roles=["admin"], full_name="Root Admin", password=PASSWORD)
    users.add("both", roles=["rep", "viewer"], team="north", password=PASSWORD)
    users.add("dora", roles=["rep"], team="north", password=PASSWORD)
    users.disable("dora")
    world = Site(config, engine, users)
    yield world
    for client in world.clients:
        client.__exit__(None, None, None)
    engine.dispose()


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo_site(tmp_path: Path, cheap_argon2: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    """The default company with demo data (scale 0.05, about 500 records) served on a loopback port."""
    monkeypatch.setenv("CRM_FILES_DIR", str(tmp_path / "files"))
    # The demo hashes its shared password once with production cost; the test's cheap hasher is enough.
    monkeypatch.setattr(people, "_hash", lambda password: users_module._HASHER.hash(password))
    config = load_config(str(ROOT / "configs"))
    engine = make_engine(f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    migrate(engine, config)
    ensure_search_index(engine, config)
    svc = build_services(config, engine)
    generate(svc.records, scale=0.05, seed=7, domain=make_domain(config))
    with served(config, engine) as url:
        yield url, svc
    engine.dispose()
