"""A company whose configuration is a pushed revision, for the configuration-editing UI tests.

    root  admin          anna  rep north          mona  manager north

The workflow company (workflow_world.FILES: deals in a pipeline, a discount
approval) with comments in account.yaml, pushed with `revisions.push` as
revision #1 (which also makes the tables), and served by the real app with
live reload, exactly as `crm serve` serves a pushed configuration.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Iterator

import pytest
from starlette.testclient import TestClient
from ui_helpers import PASSWORD, SECRET, csrf_token, sign_in
from workflow_world import FILES as WORKFLOW_FILES

from engine.runtime import revisions as rv
from engine.runtime.db import make_engine
from engine.runtime.tables import build_tables
from engine.runtime.users import Users
from ui.app import create_app

ACCOUNT = """\
# Customers we sell to.
entity: account
label: {en: Account, hu: Ügyfél}
plural: {en: Accounts, hu: Ügyfelek}
title: name
traits: [owned]
fields:
  name:    {type: string, required: true}   # the company's registered name
  segment: {type: choice, options: [a, b]}

# Shown on the account list.
views:
  list:
    columns: [name, owner]
"""
FILES = {**WORKFLOW_FILES, "entities/account.yaml": ACCOUNT}


class ConfigWorld:
    def __init__(self, engine, folder: Path):
        self.engine, self.folder = engine, folder
        self.app = create_app(rv.active_config(engine), engine, secret_key=SECRET)
        self.clients: list[TestClient] = []

    def browser(self, username: str, app=None) -> TestClient:
        client = TestClient(app or self.app, follow_redirects=False)
        client.__enter__()
        self.clients.append(client)
        assert sign_in(client, username).status_code == 303
        return client

    def second_app(self):
        """Another server on the same database (another worker, another admin's browser)."""
        return create_app(rv.active_config(self.engine), self.engine, secret_key=SECRET)


def build_config_world(db_url: str, write_config: Callable[[dict[str, str]], Path]) -> ConfigWorld:
    folder = write_config(FILES)
    engine = make_engine(db_url)
    rv.push(engine, folder, author="consultant", reason="first configuration")
    config = rv.active_config(engine)
    users = Users(config, engine, build_tables(config))
    users.add("root", roles=["admin"], full_name="Root Admin", locale="en", password=PASSWORD)
    users.add("anna", roles=["rep"], team="north", full_name="Anna Adams", locale="en", password=PASSWORD)
    users.add("mona", roles=["manager"], team="north", full_name="Mona Molnár", locale="en", password=PASSWORD)
    return ConfigWorld(engine, folder)


@pytest.fixture
def cworld(db_url: str, write_config, cheap_argon2: None) -> Iterator[ConfigWorld]:
    w = build_config_world(db_url, write_config)
    yield w
    for client in w.clients:
        client.__exit__(None, None, None)
    w.engine.dispose()


def token(client: TestClient, path: str = "/") -> str:
    return csrf_token(client.get(path).text)


def hidden(html: str, name: str) -> str:
    """The value of the first hidden input `name` in a page (the form the next POST sends)."""
    import html as html_module
    match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden input {name}"
    return html_module.unescape(match.group(1))
