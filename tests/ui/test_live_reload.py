"""Live reload (ui/reload.py): servers on one database follow its active configuration revision.

Two apps on the same database (SQLite and PostgreSQL), each with its own engine as two
processes would have; a revision pushed through `revisions.push` must reach both within
2 s, and requests made during the switch must all succeed. Then real `crm serve`
processes: one pushes its folder, one with `--workers 2` serves the active revision.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from ui_helpers import FILES, PASSWORD, SECRET, sign_in

from engine.runtime import revisions
from engine.runtime.actor import SYSTEM
from engine.runtime.alerts.scenario_steps import free_port
from engine.runtime.db import make_engine
from engine.runtime.errors import ValidationFailed
from engine.runtime.records import Records
from engine.runtime.tables import build_tables
from engine.runtime.users import Users
from ui import reload
from ui.app import create_app

ROOT = Path(__file__).resolve().parents[2]
PAGE = "/records/deal/new"      # the form shows every field's label
DEAL = FILES["entities/deal.yaml"]
RELABELLED = DEAL.replace("amount:  {type: money, min: 0}",
                          "amount:  {type: money, min: 100, label: {en: Deal value, hu: Érték}}")
assert RELABELLED != DEAL


def _push(db_url: str, folder: Path, reason: str) -> revisions.Revision:
    engine = make_engine(db_url)
    try:
        return revisions.push(engine, folder, author="test", reason=reason)
    finally:
        engine.dispose()


@pytest.fixture
def pushed(db_url, write_config, cheap_argon2):
    """The UI company pushed as the first revision of `db_url`, with a rep who can list deals."""
    folder = write_config(FILES)
    first = _push(db_url, folder, "first")
    engine = make_engine(db_url)
    config = revisions.active_config(engine)
    users = Users(config, engine, build_tables(config))
    users.add("anna", roles=["rep"], team="north", full_name="Anna Adams", locale="en", password=PASSWORD)
    engine.dispose()
    return folder, first


def _app(db_url: str):
    engine = make_engine(db_url)
    return create_app(revisions.active_config(engine), engine, secret_key=SECRET), engine


def _wait_for(check, timeout: float = 2.0) -> float:
    """Seconds until `check()` is true; fails after `timeout`."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            pytest.fail(f"not seen within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - started


def test_two_servers_switch_to_a_pushed_revision_within_2_s_without_a_failed_request(pushed, db_url):
    from starlette.testclient import TestClient
    folder, first = pushed
    apps = [_app(db_url) for _ in range(2)]
    clients = []
    stop = threading.Event()
    thread: threading.Thread | None = None
    try:
        for app, _ in apps:
            client = TestClient(app, follow_redirects=False)
            client.__enter__()            # the lifespan starts the watcher, as under uvicorn
            clients.append(client)
            assert sign_in(client, "anna").status_code == 303
            page = client.get(PAGE)
            assert page.status_code == 200 and "Amount" in page.text and "Deal value" not in page.text
        # A steady reader on its own session during the switch: every answer must be a 200.
        reader = TestClient(apps[0][0], follow_redirects=False)
        assert sign_in(reader, "anna").status_code == 303
        statuses: list[int] = []

        def read() -> None:
            while not stop.is_set():
                statuses.append(reader.get(PAGE).status_code)
        thread = threading.Thread(target=read)
        thread.start()
        time.sleep(0.3)

        (folder / "entities" / "deal.yaml").write_text(RELABELLED, encoding="utf-8")
        new = _push(db_url, folder, "relabel amount, raise its minimum")
        assert new.parent == first.revision and new.revision != first.revision
        pushed_at = time.monotonic()
        seen = [_wait_for(lambda c=c: "Deal value" in c.get(PAGE).text) for c in clients]
        time.sleep(0.3)
        stop.set()
        thread.join()
        assert all(s < 2.0 for s in seen), seen
        assert len(statuses) > 5 and set(statuses) == {200}, statuses
        # Both serve exactly the new revision, rules included: the raised minimum is enforced.
        for app, _ in apps:
            assert app.state.services.config.revision == new.revision == app.state.config.revision
            with pytest.raises(ValidationFailed, match="100"):
                app.state.services.records.create(SYSTEM, "deal", {"name": "Small", "amount": 50})
        assert time.monotonic() - pushed_at < 10
    finally:
        stop.set()                        # a failed check must not leave the reader running (pytest would never end)
        if thread is not None:
            thread.join(timeout=10)
        for client in clients:
            client.__exit__(None, None, None)
        for _, engine in apps:
            engine.dispose()


def test_ensure_current_with_force_switches_at_once_and_is_cheap_otherwise(pushed, db_url):
    folder, first = pushed
    app, engine = _app(db_url)          # no lifespan, no watcher: only the explicit calls below
    try:
        before = app.state.services
        reload.reloader(app).interval = 60      # so the unforced call below is surely inside the throttle
        assert reload.ensure_current(app, force=True) is False          # already current
        (folder / "entities" / "deal.yaml").write_text(RELABELLED, encoding="utf-8")
        new = _push(db_url, folder, "relabel")
        assert reload.ensure_current(app) is False       # throttled: the forced check was just now
        assert app.state.services is before
        assert reload.ensure_current(app, force=True) is True
        after = app.state.services
        assert after is not before and after.config.revision == new.revision
        assert before.config.revision == first.revision   # the old object is untouched (requests in flight)
        assert reload.ensure_current(app, force=True) is False and app.state.services is after
        # What the new services write carries the new revision (audit rows; approvals and firings alike).
        made = after.records.create(SYSTEM, "deal", {"name": "Big", "amount": 500})
        assert {e.revision for e in after.records.history(SYSTEM, "deal", made["id"])} == {new.revision}
    finally:
        engine.dispose()


def test_a_stored_revision_that_does_not_load_is_logged_and_the_current_one_kept(pushed, db_url, caplog):
    """Say an older engine accepted a revision this one refuses: serving goes on with what works."""
    import datetime as dt
    import json

    import sqlalchemy as sa
    from starlette.testclient import TestClient
    folder, first = pushed
    app, engine = _app(db_url)
    try:
        table = sa.table("crm_revisions", sa.column("revision"), sa.column("content"), sa.column("active"),
                         sa.column("created_at"), sa.column("author"))
        with engine.begin() as conn:
            conn.execute(table.update().values(active=False))
            conn.execute(table.insert().values(
                revision="badbadbadbadbad0", content=json.dumps({"crm.yaml": "company: [unclosed\n"}),
                active=True, created_at=dt.datetime.now(dt.timezone.utc), author="older engine"))
        before = app.state.services
        assert reload.ensure_current(app, force=True) is False
        assert app.state.services is before and "badbadbadbadbad0" in caplog.text
        client = TestClient(app, follow_redirects=False)
        assert sign_in(client, "anna").status_code == 303
        assert client.get(PAGE).status_code == 200
    finally:
        engine.dispose()


def test_a_request_keeps_the_services_it_started_with(pushed, db_url):
    """The middleware pins the services into the request's scope; a swap meanwhile does not change them."""
    from starlette.testclient import TestClient
    folder, _ = pushed
    app, engine = _app(db_url)
    original = app.state.services.users.actor_by_id

    def swap_during_request(user_id: int):
        # Runs inside the request (the auth middleware loads the user): a new revision lands now.
        (folder / "entities" / "deal.yaml").write_text(RELABELLED, encoding="utf-8")
        _push(db_url, folder, "relabel mid-request")
        assert reload.ensure_current(app, force=True) is True
        return original(user_id)

    try:
        client = TestClient(app, follow_redirects=False)
        assert sign_in(client, "anna").status_code == 303
        old = app.state.services
        old.users.actor_by_id = swap_during_request       # type: ignore[method-assign]
        page = client.get(PAGE)
        # The page was rendered with the services it started with: the old label, no mix.
        assert page.status_code == 200 and "Amount" in page.text and "Deal value" not in page.text
        assert app.state.services is not old
        assert "Deal value" in client.get(PAGE).text      # the next request: the new one
    finally:
        engine.dispose()


# ---------------------------------------------------------------- real `crm serve` processes

def _serve(args: list[str], cwd: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "CRM_SECRET_KEY": SECRET, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--port", str(port), "--no-access-log",
                             *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _up(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"crm serve exited {proc.returncode}:\n{proc.stdout.read() if proc.stdout else ''}")
        try:
            if _get(port, "/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail("crm serve did not start")


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def _company(port: int) -> str:
    status, text = _get(port, "/login")
    assert status == 200, text[:300]
    match = re.search(r"<title>[^<]*· ([^<]+)</title>", text)
    assert match, text[:300]
    return match.group(1).strip()


def test_crm_serve_processes_follow_a_pushed_revision(db_url, write_config, tmp_path):
    """`crm serve --config` pushes; `crm serve --workers 2` serves the active revision; both follow a push."""
    folder = write_config(FILES)
    engine = make_engine(db_url)
    build_tables(revisions.load_source(folder)).metadata.create_all(engine)   # as `crm migrate` leaves it
    ports = [free_port(), free_port()]
    # The first pushes its folder (the database has no revision yet); the second serves the active one.
    first = _serve(["--config", str(folder), "--db", db_url], tmp_path, ports[0])
    procs = [first]
    try:
        _up(ports[0], first)
        procs.append(_serve(["--db", db_url, "--workers", "2"], tmp_path, ports[1]))
        _up(ports[1], procs[1])
        assert [_company(p) for p in ports] == ["Próba Kft."] * 2
        rev = revisions.log(engine)[0]
        assert (rev.author, rev.active) == ("crm serve", True) and "first revision" in (rev.reason or "")

        crm_yaml = folder / "crm.yaml"
        crm_yaml.write_text(crm_yaml.read_text(encoding="utf-8").replace("Próba Kft.", "Próba Zrt."), encoding="utf-8")
        failures: list[str] = []
        switched: dict[int, float] = {}

        def poll(port: int, pushed_at: float) -> None:
            # A new connection per request, so the --workers 2 server's answers come from both
            # processes; switched = the start of 20 new answers in a row (both workers, surely).
            streak_from, streak = None, 0
            while time.monotonic() - pushed_at < 5.0:
                started = time.monotonic()
                try:
                    new = _company(port) == "Próba Zrt."
                except (AssertionError, OSError) as exc:
                    failures.append(repr(exc))
                    new = False
                streak_from, streak = (streak_from or started, streak + 1) if new else (None, 0)
                if streak >= 20:
                    switched[port] = streak_from - pushed_at
                    return
                time.sleep(0.01)
        _push(db_url, folder, "renamed")
        pushed_at = time.monotonic()
        pollers = [threading.Thread(target=poll, args=(p, pushed_at)) for p in ports]
        for t in pollers:
            t.start()
        for t in pollers:
            t.join()
        assert failures == [], failures
        assert set(switched) == set(ports) and all(s < 2.0 for s in switched.values()), switched
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(15)
        engine.dispose()


def test_crm_serve_refuses_a_folder_whose_push_needs_confirmation(db_url, write_config, monkeypatch, capsys):
    """A folder that would narrow a column with data in it is not pushed, and nothing is served."""
    from ui.serve import ServeOptions, serve
    folder = write_config(FILES)
    _push(db_url, folder, "first")
    engine = make_engine(db_url)
    config = revisions.active_config(engine)
    Records(config, engine, build_tables(config)).create(SYSTEM, "product", {"name": "Widget"})
    before = revisions.active_hash(engine)
    product = folder / "entities" / "product.yaml"
    product.write_text(product.read_text(encoding="utf-8").replace(
        "name: {type: string, required: true}", "name: {type: string, required: true, max_length: 20}"),
        encoding="utf-8")
    monkeypatch.setenv("CRM_SECRET_KEY", SECRET)
    assert serve(ServeOptions(config_dir=str(folder), db_url=db_url)) == 1
    err = capsys.readouterr().err
    assert "confirmation" in err and "was not pushed" in err
    assert revisions.active_hash(engine) == before
    engine.dispose()
