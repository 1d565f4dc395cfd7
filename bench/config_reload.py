"""Benchmark: a configuration change reaching a running 2-worker PostgreSQL server under read load.

    .venv/bin/python bench/config_reload.py [--pg postgresql://postgres@127.0.0.1:5432/postgres]
                                            [--threads 6] [--workers 2]

Creates the database `crm_bench_reload` (dropped first) on that server, pushes
bench/config as its first revision, adds a user and 200 deals, and starts
`crm serve --workers 2` on it. Reader threads then sign in once and GET the
deal list and the new-deal form in a loop, each over its own keep-alive
connection; which uvicorn worker process holds a connection is read from
/proc (Linux), so every answer is attributed to its worker. While they read,
two revisions are pushed through `revisions.push` (as `crm config push` and
the admin UI do): a label change (deal.amount becomes "Deal value") and a
threshold change (deal.discount_pct max 100 -> 50, shown as the form's `max`).

Reported, per change and per worker, in seconds from the push's return (the
revision is committed by then): when the first request started that got the
new configuration, and when the last one started that still got the old one;
the later of the two is the worker's switch time (goal < 2 s). Overall:
requests made and failed (must be 0: any status other than 200, or a
connection error).
"""
from __future__ import annotations

import argparse
import functools
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from engine.runtime import revisions  # noqa: E402
from engine.runtime.actor import SYSTEM  # noqa: E402
from engine.runtime.alerts.scenario_steps import free_port  # noqa: E402
from engine.runtime.db import make_engine  # noqa: E402
from engine.runtime.records import Records  # noqa: E402
from engine.runtime.tables import build_tables  # noqa: E402
from engine.runtime.users import Users  # noqa: E402

print = functools.partial(print, flush=True)  # noqa: A001 - progress shows while it runs
CONFIG = Path(__file__).parent / "config"
DATABASE = "crm_bench_reload"
SECRET = "bench-reload-secret-key-that-is-long-enough-0123456789"
USER, PASSWORD = "bench", "benchpass"
LIST, FORM = "/records/deal", "/records/deal/new"

AMOUNT = "  amount:       {type: money, min: 0}"
RELABELLED = "  amount:       {type: money, min: 0, label: {en: Deal value, de: Wert}}"
DISCOUNT = "  discount_pct: {type: percent, min: 0, max: 100, default: 0}"
NARROWER = "  discount_pct: {type: percent, min: 0, max: 50, default: 0}"
# What tells the new configuration in a page: per change, (marker of the new one, pages that show it).
CHANGES = {
    "label": (lambda html: "Deal value" in html, (LIST, FORM)),
    "threshold": (lambda html: bool(re.search(r'name="discount_pct"[^>]*max="50"', html)), (FORM,)),
}


# ---------------------------------------------------------------- set-up

def database_url(admin_url: str) -> str:
    parsed = sa.engine.make_url(admin_url)
    admin = sa.create_engine(parsed.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{DATABASE}"'))
    admin.dispose()
    return parsed.set(drivername="postgresql", database=DATABASE).render_as_string(hide_password=False)


def prepare(url: str, folder: Path) -> None:
    engine = make_engine(url)
    first = revisions.push(engine, folder, author="bench", reason="first revision")
    config = revisions.active_config(engine)
    tables = build_tables(config)
    Users(config, engine, tables).add(USER, roles=["admin"], password=PASSWORD, full_name="Bench Admin")
    records = Records(config, engine, tables)
    accounts = [records.create(SYSTEM, "account", {"name": f"Account {i}"})["id"] for i in range(20)]
    for i in range(200):
        records.create(SYSTEM, "deal", {"name": f"Deal {i}", "account": accounts[i % 20], "amount": 1000 + i})
    engine.dispose()
    print(f"database {DATABASE}: revision {first.revision}, 20 accounts, 200 deals")


def start_server(url: str, port: int, workers: int, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "CRM_SECRET_KEY": SECRET, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--db", url, "--port", str(port),
                             "--workers", str(workers), "--no-access-log"],
                            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"crm serve exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        if len(worker_pids(proc.pid)) == workers:
            try:
                status, _ = request(http.client.HTTPConnection("127.0.0.1", port, timeout=5), "/healthz", "")
                if status == 200:
                    return proc
            except OSError:
                pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("crm serve did not start within 60 s")


def sign_in(port: int) -> str:
    """The session cookie, through the real login form (as bench/app_cookie.sh does with curl)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/login")
    response = conn.getresponse()
    html = response.read().decode()
    cookie = response.getheader("set-cookie", "").split(";", 1)[0]
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if found is None:
        raise SystemExit(f"GET /login answered {response.status} without a csrf_token field:\n{html[:2000]}")
    token = found.group(1)
    body = urllib.parse.urlencode({"csrf_token": token, "username": USER, "password": PASSWORD, "next": "/"})
    conn.request("POST", "/login", body, {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    response = conn.getresponse()
    response.read()
    if response.status != 303:
        raise SystemExit(f"sign-in answered {response.status}")
    return response.getheader("set-cookie", "").split(";", 1)[0]


# ---------------------------------------------------------------- which worker holds a connection (/proc)

def worker_pids(parent: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent
                        and b"spawn_main" in (entry / "cmdline").read_bytes()):    # not the resource tracker
                    pids.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return sorted(pids)


def connection_owner(server_port: int, client_port: int, pids: list[int]) -> int | None:
    """The worker process holding the server side of the connection from `client_port`."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        local, remote = parts[1], parts[2]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
            inode = parts[9]
    if inode is None:
        return None
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
        except OSError:
            continue
    return None


# ---------------------------------------------------------------- the readers

@dataclass
class Answer:
    started: float
    pid: int
    path: str
    status: int
    html: str


@dataclass
class Load:
    port: int
    cookie: str
    pids: list[int]
    answers: list[Answer] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def connect(self, want: int | None) -> tuple[http.client.HTTPConnection, int]:
        """A keep-alive connection held by worker `want` (any worker when None)."""
        for _ in range(200):
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            status, _ = request(conn, "/healthz", self.cookie)
            owner = connection_owner(self.port, conn.sock.getsockname()[1], self.pids) if status == 200 else None
            if owner is not None and (want is None or owner == want):
                return conn, owner
            conn.close()
        raise RuntimeError(f"no connection reached worker {want}")

    def read(self, want: int) -> None:
        conn, pid = self.connect(want)
        turn = 0
        while not self.stop.is_set():
            path = (LIST, FORM)[turn % 2]
            turn += 1
            started = time.monotonic()
            try:
                status, html = request(conn, path, self.cookie)
            except (OSError, http.client.HTTPException) as exc:
                with self.lock:
                    self.errors.append(f"{path} on worker {pid}: {exc!r}")
                conn.close()
                conn, pid = self.connect(want)
                continue
            with self.lock:
                self.answers.append(Answer(started, pid, path, status, html))
                if status != 200:
                    self.errors.append(f"{path} on worker {pid}: HTTP {status}")


def request(conn: http.client.HTTPConnection, path: str, cookie: str) -> tuple[int, str]:
    conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
    response = conn.getresponse()
    return response.status, response.read().decode("utf-8", "replace")


def measure(load: Load, name: str, pushed_at: float) -> dict[int, tuple[float | None, float | None]]:
    """Per worker, in seconds after the push: when the first request started that got the new
    configuration, and when the last one started that still got the old one. From the later of the
    two on, every request of that worker got the new configuration."""
    is_new, pages = CHANGES[name]
    result = {}
    with load.lock:
        answers = [a for a in load.answers if a.started >= pushed_at and a.path in pages and a.status == 200]
    for pid in load.pids:
        mine = [a for a in answers if a.pid == pid]
        first_new = next((a.started - pushed_at for a in mine if is_new(a.html)), None)
        last_old = max((a.started - pushed_at for a in mine if not is_new(a.html)), default=None)
        result[pid] = (first_new, last_old)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default=os.environ.get("CRM_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--threads", type=int, default=6, help="reader threads (spread over the workers)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="crm-bench-reload-"))
    folder = work / "config"
    shutil.copytree(CONFIG, folder)
    deal = folder / "entities" / "deal.yaml"
    assert AMOUNT in deal.read_text() and DISCOUNT in deal.read_text(), "bench/config/entities/deal.yaml changed"
    url = database_url(args.pg)
    prepare(url, folder)
    port = free_port()
    server = start_server(url, port, args.workers, work)
    engine = make_engine(url)
    try:
        load = Load(port, sign_in(port), worker_pids(server.pid))
        print(f"crm serve --workers {args.workers} on port {port}: worker processes {load.pids}; "
              f"{args.threads} readers (GET {LIST} and {FORM} in turn, keep-alive)")
        readers = [threading.Thread(target=load.read, args=(load.pids[i % len(load.pids)],), daemon=True)
                   for i in range(args.threads)]
        for t in readers:
            t.start()
        time.sleep(3)
        worst = 0.0
        for name, (old, new) in (("label", (AMOUNT, RELABELLED)), ("threshold", (DISCOUNT, NARROWER))):
            deal.write_text(deal.read_text().replace(old, new))
            started = time.monotonic()
            rev = revisions.push(engine, folder, author="bench", reason=f"{name} change")
            pushed_at = time.monotonic()
            time.sleep(4)
            seen = measure(load, name, pushed_at)
            print(f"{name} change: revision {rev.revision} (push took {pushed_at - started:.2f} s)")
            for pid, (first_new, last_old) in seen.items():
                switched = float("inf") if first_new is None else max(first_new, last_old or 0.0)
                print(f"  worker {pid}: every request started after {switched:.3f} s got it "
                      f"(first new answer: {'-' if first_new is None else f'{first_new:.3f} s'}, "
                      f"last old answer: {'-' if last_old is None else f'{last_old:.3f} s'})")
                worst = max(worst, switched)
        load.stop.set()
        for t in readers:
            t.join(15)
        made = len(load.answers)
        per = {pid: sum(1 for a in load.answers if a.pid == pid) for pid in load.pids}
        print(f"requests: {made} ({', '.join(f'worker {p}: {n}' for p, n in per.items())}); "
              f"failed: {len(load.errors)}")
        for line in load.errors[:10]:
            print(f"  {line}")
        ok = not load.errors and worst < 2.0
        print(f"slowest worker: {worst:.3f} s -> {'PASS' if ok else 'FAIL'} (goal: 0 failed, < 2 s)")
        return 0 if ok else 1
    finally:
        engine.dispose()
        server.terminate()
        server.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
