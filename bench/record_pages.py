"""Rough latency of the record page, the edit form, inline validation and a form save.

In-process (Starlette TestClient, so no network), the test company of
tests/ui/record_helpers.py with 30 contacts and 30 timeline entries on one
account; a fresh SQLite file unless DB=<url> names an empty database:

    .venv/bin/python bench/record_pages.py
    DB='postgresql+psycopg://postgres@127.0.0.1:5432/postgres?options=-csearch_path%3Dbench' \
        .venv/bin/python bench/record_pages.py
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "ui"), str(ROOT)]
TMP = Path(tempfile.mkdtemp())
os.environ["CRM_FILES_DIR"] = str(TMP / "files")

from record_helpers import FILES, PASSWORD, SECRET, csrf_token  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from engine.metadata.loader import load_config  # noqa: E402
from engine.runtime.actor import SYSTEM  # noqa: E402
from engine.runtime.db import make_engine  # noqa: E402
from engine.runtime.tables import build_tables  # noqa: E402
from ui.app import create_app  # noqa: E402
from ui.services import build_services  # noqa: E402

ROUNDS = 40


def main() -> None:
    folder = TMP / "cfg"
    crm = "company: Bench Kft.\nlocales: [en, hu]\ncurrency: HUF\ntimezone: Europe/Budapest\n"
    for rel, text in {"crm.yaml": crm, **FILES}.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    config = load_config(folder)
    engine = make_engine(os.environ.get("DB") or f"sqlite:///{TMP / 'bench.sqlite3'}")
    build_tables(config).metadata.create_all(engine)
    svc = build_services(config, engine)
    svc.users.add("root", roles=["admin"], full_name="Root", locale="en", password=PASSWORD)
    account = svc.records.create(SYSTEM, "account", {"name": "ACME", "revenue": "100"})
    for i in range(30):
        svc.records.create(SYSTEM, "contact", {"name": f"Contact {i}", "account": account["id"]})
        svc.records.create(SYSTEM, "activity", {"subject": f"Call {i}", "account": account["id"], "kind": "call"})
    with TestClient(create_app(config, engine, secret_key=SECRET), follow_redirects=False) as client:
        token = csrf_token(client.get("/login").text)
        client.post("/login", data={"username": "root", "password": PASSWORD, "csrf_token": token})
        token = csrf_token(client.get("/").text)
        page = f"/records/account/{account['id']}"
        cases: list[tuple[str, Callable[[], Any]]] = [
            ("record page", lambda: client.get(page)),
            ("edit form", lambda: client.get(page + "/edit")),
            ("inline validation", lambda: client.post("/records/account/validate?field=email",
                                                      data={"name": "X", "email": "bad"},
                                                      headers={"X-CSRF-Token": token})),
            ("create through the form", lambda: client.post("/records/account/new",
                                                            data={"csrf_token": token, "name": "N", "revenue": "5"})),
        ]
        for name, call in cases:
            call()
            started = time.perf_counter()
            for _ in range(ROUNDS):
                response = call()
                assert response.status_code in (200, 303), (name, response.status_code)
            print(f"{name}: {(time.perf_counter() - started) / ROUNDS * 1000:.1f} ms/request")
    engine.dispose()


if __name__ == "__main__":
    main()
