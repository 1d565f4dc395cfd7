"""Helpers of the web UI tests: a tiny company, a Site to open browsers on, sign-in.

Users (made by the `site` fixture in conftest.py):

    anna  rep (English)          mona  manager (Hungarian)      vic  viewer
    root  admin                  both  rep + viewer             dora rep, disabled

Every password is "pw". The login throttle records its delays instead of
sleeping, so the slowing-down can be asserted at full speed, and argon2 runs
with its smallest cost (the real parameters take half a second per hash here).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from starlette.testclient import TestClient

from engine.metadata.model import Config
from engine.runtime.users import Users
from ui.app import create_app
from ui.throttle import LoginThrottle

SECRET = "test-secret-key-that-is-long-enough-0123456789"
PASSWORD = "pw"

FILES = {
    "crm.yaml": "company: Próba Kft.\nlocales: [en, hu]\ncurrency: HUF\ntimezone: Europe/Budapest\n",
    "roles.yaml": """
roles:
  admin: {all: true}
  rep:
    label: {en: Sales rep, hu: Értékesítő}
    entities:
      account:   {read: team, create: true, update: own}
      deal:      {read: own, create: true, update: own}
      deal_line: {read: own, create: true, update: own, delete: own}
    reports: [deal_count]
  manager:
    inherits: rep
    entities:
      deal: {read: all, update: team}
  viewer:
    entities:
      product: {read: all}
""",
    "entities/account.yaml": """
entity: account
label: {en: Account, hu: Ügyfél}
plural: {en: Accounts, hu: Ügyfelek}
title: name
traits: [owned]
fields:
  name: {type: string, required: true}
""",
    "entities/deal.yaml": """
entity: deal
label: {en: Deal, hu: Üzlet}
plural: {en: Deals, hu: Üzletek}
title: name
traits: [owned]
fields:
  name:    {type: string, required: true}
  account: {type: link, entity: account}
  amount:  {type: money, min: 0}
  items:   {type: lines, entity: deal_line}
""",
    "entities/deal_line.yaml": """
entity: deal_line
title: description
fields:
  deal:        {type: link, entity: deal, required: true, on_delete: cascade}
  description: {type: string}
""",
    "entities/product.yaml": """
entity: product
label: {en: Product, hu: Termék}
plural: {en: Products, hu: Termékek}
title: name
fields:
  name: {type: string, required: true}
""",
    "reports/deal_count.yaml": """
kpi: deal_count
label: {en: Deals, hu: Üzletek}
entity: deal
value: "count()"
""",
    "reports/rep_board.yaml": """
dashboard: rep_board
label: {en: My sales, hu: Értékesítéseim}
roles: [rep]
widgets:
  - {kpi: deal_count}
""",
    "reports/manager_board.yaml": """
dashboard: manager_board
label: {en: Team sales, hu: Csapat értékesítései}
roles: [manager]
widgets:
  - {kpi: deal_count}
""",
}


class RecordingSleep:
    """Stands in for asyncio.sleep: remembers each delay, returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@dataclass
class Site:
    """The company, its database and users, and a way to open browsers on it."""

    config: Config
    engine: object
    users: Users
    sleep: RecordingSleep = field(default_factory=RecordingSleep)
    clients: list[TestClient] = field(default_factory=list)

    def app(self, **options: object):
        options.setdefault("login_throttle", LoginThrottle(sleep=self.sleep))
        return create_app(self.config, self.engine, secret_key=SECRET, **options)  # type: ignore[arg-type]

    def client(self, app=None, *, raise_server_exceptions: bool = True, **options: object) -> TestClient:
        """A browser on a new app (or `app`); the lifespan runs as in `crm serve`."""
        client = TestClient(app or self.app(**options), follow_redirects=False,
                            raise_server_exceptions=raise_server_exceptions)
        client.__enter__()
        self.clients.append(client)
        return client

    def signed_in(self, username: str, app=None, **options: object) -> TestClient:
        client = self.client(app, **options)
        response = sign_in(client, username)
        assert response.status_code == 303, response.text
        return client


def csrf_token(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, "no csrf-token meta tag in the page"
    return match.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD, next_path: str = ""):
    token = csrf_token(client.get("/login").text)
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token, "next": next_path})


def page_token(client: TestClient, path: str = "/") -> str:
    """The CSRF token of the signed-in session, as a page shows it."""
    return csrf_token(client.get(path).text)
