"""`crm serve`: its options, the session key, and refusing a database that is not ready."""
from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from ui_helpers import FILES, SECRET

from engine.cli import build_parser
from engine.metadata.loader import load_config
from engine.runtime.db import make_engine
from ui.app import DatabaseNotReady, create_app
from ui.secret import SecretKeyError, load_secret_key
from ui.serve import ServeOptions, serve

ROOT = Path(__file__).resolve().parents[2]


def test_serve_options():
    args = build_parser().parse_args(["serve", "--config", "cfg", "--db", "sqlite://", "--port", "9000"])
    assert (args.config, args.db, args.host, args.port) == ("cfg", "sqlite://", "127.0.0.1", 9000)
    assert args.secure_cookies is False
    defaults = build_parser().parse_args(["serve"])
    assert (defaults.config, defaults.db, defaults.port) == (None, None, 8000)   # None: the active revision
    assert (defaults.workers, defaults.worker) == (1, False)


def test_no_page_memo_reaches_the_server_options(monkeypatch):
    """`--no-page-memo` (ui/page_memo.py): the flag becomes ServeOptions.page_memo=False, on by default."""
    import ui.serve
    seen: list[ServeOptions] = []
    monkeypatch.setattr(ui.serve, "serve", lambda options: seen.append(options) or 0)
    for argv, expected in ((["serve"], True), (["serve", "--no-page-memo"], False)):
        args = build_parser().parse_args(argv)
        assert args.func(args) == 0 and seen[-1].page_memo is expected


def test_secret_key_from_the_environment(tmp_path):
    assert load_secret_key(tmp_path, {"CRM_SECRET_KEY": SECRET}) == SECRET
    assert not (tmp_path / "secret_key").exists()
    with pytest.raises(SecretKeyError, match="at least 32"):
        load_secret_key(tmp_path, {"CRM_SECRET_KEY": "short"})


def test_secret_key_is_generated_once_and_private(tmp_path):
    first = load_secret_key(tmp_path / "var", {})
    path = tmp_path / "var" / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32 and load_secret_key(tmp_path / "var", {}) == first


def test_serve_refuses_a_database_without_engine_tables(write_config, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CRM_SECRET_KEY", SECRET)
    options = ServeOptions(config_dir=str(write_config(FILES)), db_url=f"sqlite:///{tmp_path / 'empty.db'}")
    assert serve(options) == 1
    assert "run `crm migrate` first" in capsys.readouterr().err


def test_serve_reports_an_invalid_configuration(write_config, monkeypatch, capsys):
    monkeypatch.setenv("CRM_SECRET_KEY", SECRET)
    bad = write_config({**FILES, "roles.yaml": "roles:\n  admin: {all: maybe}\n"})
    assert serve(ServeOptions(config_dir=str(bad))) == 1
    assert "roles.yaml" in capsys.readouterr().err


@pytest.fixture
def empty_engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    yield engine
    engine.dispose()


def test_the_app_does_not_start_on_an_unmigrated_database(write_config, empty_engine):
    app = create_app(load_config(write_config(FILES)), empty_engine, secret_key=SECRET)
    with pytest.raises(DatabaseNotReady, match="crm migrate"):
        with TestClient(app):
            pass


def test_a_short_secret_key_is_refused(write_config, empty_engine):
    with pytest.raises(ValueError, match="at least 32"):
        create_app(load_config(write_config(FILES)), empty_engine, secret_key="short")


def test_front_end_packages_are_pinned():
    package = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert package["dependencies"]["htmx.org"] == "2.0.11"      # npm's latest (4.x) changes the API
    assert lock["packages"]["node_modules/htmx.org"]["version"] == "2.0.11"
    for name in ("sortablejs", "chart.js"):
        assert lock["packages"][f"node_modules/{name}"]["version"] == package["dependencies"][name]


def test_vendor_files_are_installed():
    vendor = ROOT / "ui" / "static" / "vendor"
    if not (vendor / ".installed").exists():
        pytest.skip("ui/static/vendor is not installed: run `make vendor`")
    assert re.search(r'version:"2\.0\.11"', (vendor / "htmx.min.js").read_text())
    assert (vendor / "Sortable.min.js").exists() and (vendor / "chart.umd.min.js").exists()
