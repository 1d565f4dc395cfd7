"""The page benchmark's app side end to end, on a tiny data set of the shared generator:
bench/app_prepare.sh builds the database through `crm import`, `crm serve --no-access-log`
serves it, bench/app_cookie.sh signs in through the real login form, and the four URLs
bench/pages.sh gives the harness answer 200 with the markers it checks."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = Path(os.environ.get("CRM_BENCH_GENERATOR", "/work/shared/bench/gen_data.py"))
PAGES = {
    "/records/deal?stage=negotiation&owner=7&sort=-amount": 'id="list-results"',
    "/records/deal?q=acme": 'id="list-results"',
    "/records/account/42": 'id="related-deal"',
    "/reports/pipeline?period=custom&period__from=2025-01-01&period__to=2025-12-31": 'class="report-table"',
}

pytestmark = [pytest.mark.slow,   # ~8 `crm` processes (import, migrate, serve): 20-60 s on a busy machine
              pytest.mark.skipif(not GENERATOR.exists(), reason="the shared benchmark generator is not here")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, cookie: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    with urllib.request.urlopen(request, timeout=30) as response:   # redirects would show the login page
        return response.status, response.read().decode()


def test_prepare_serve_sign_in_and_pages(tmp_path: Path) -> None:
    data = tmp_path / "data"
    subprocess.run([sys.executable, str(GENERATOR), "--scale", "0.001", "--out", str(data)], check=True)
    env = {**os.environ, "DATA": str(data), "APP_DB_DIR": str(tmp_path)}
    built = subprocess.run(["bash", "bench/app_prepare.sh", "0.001"], cwd=ROOT, env=env,
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "deal: imported" in built.stdout and " 0 refused" in built.stdout
    db = tmp_path / "s0.001.sqlite3"
    assert db.exists() and not (tmp_path / "s0.001.sqlite3.tmp").exists()
    again = subprocess.run(["bash", "bench/app_prepare.sh", "0.001"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert again.returncode == 0 and "reusing" in again.stdout

    port = _free_port()
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/crm"), "serve", "--config", "bench/config", "--db", f"sqlite:///{db}",
         "--port", str(port), "--no-access-log"], cwd=ROOT,
        env={**os.environ, "CRM_SECRET_KEY": "test-bench-pages-secret-key-0123456789abcdef"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        cookie = subprocess.run(["bash", "bench/app_cookie.sh", base, "bench", "benchpass"], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        assert cookie.returncode == 0, cookie.stderr
        header = cookie.stdout.strip().splitlines()[-1]
        assert header.startswith("Cookie: crm_session=")
        for path, mark in PAGES.items():
            status, body = _get(base + path, header.removeprefix("Cookie: "))
            assert status == 200 and mark in body, path
        wrong = subprocess.run(["bash", "bench/app_cookie.sh", base, "bench", "wrong"], cwd=ROOT,
                               capture_output=True, text=True, timeout=60)
        assert wrong.returncode == 1 and "expected 303" in wrong.stderr
    finally:
        server.terminate()
        log = server.communicate(timeout=10)[0]
    assert "GET /records" not in log          # --no-access-log: no line per request
