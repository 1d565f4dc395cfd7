"""Where a page's time goes: cProfile of the real app serving one URL, in process.

Drives the ASGI app directly (no network, no TestClient per request) as the page
benchmark's user `bench` on a database built by `bench/app_prepare.sh`, with the
thread pool run inline so the profile sees the page's own work, and prints the
mean wall ms and the best and median CPU ms per request (batches of 10), the SQL
statements per request and the top functions.

    .venv/bin/python bench/page_profile.py /records/account/4242            # scale 0.1 db
    .venv/bin/python bench/page_profile.py --db /tmp/benchapp/s1.sqlite3 --runs 50 \
        '/records/deal?stage=negotiation&owner=7&sort=-amount'
    .venv/bin/python bench/page_profile.py --no-profile --runs 200 /records/deal?q=acme   # timing only

Instructions per request (steady, repeatable): run it under
`PYTHONHASHSEED=0 valgrind --tool=cachegrind --cache-sim=no` with `--no-profile --keep-signed-in`
and `--runs 10`, then `--runs 40`, and take (Ir(40) - Ir(10)) / 30.
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio.to_thread  # noqa: E402
from sqlalchemy import event  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from engine.metadata.loader import load_config  # noqa: E402
from engine.runtime import users  # noqa: E402
from engine.runtime.db import make_engine  # noqa: E402
from ui.app import create_app  # noqa: E402

CONFIG = Path(__file__).parent / "config"
SECRET = "bench-page-profile-session-key-0123456789abcdef"


async def _inline(func: Any, *args: Any, **_: Any) -> Any:
    """anyio.to_thread.run_sync without the thread: cProfile follows one thread only."""
    return func(*args)


def sign_in(app: Any, user: str, password: str) -> str:
    with TestClient(app, base_url="http://127.0.0.1") as client:
        page = client.get("/login").text
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        answer = client.post("/login", data={"username": user, "password": password, "csrf_token": token,
                                             "next": "/"}, follow_redirects=False)
        if answer.status_code != 303:
            raise SystemExit(f"sign-in as {user} answered {answer.status_code}")
        return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


async def request(app: Any, path: str, cookie: str) -> tuple[int, bytes]:
    url, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": url, "raw_path": url.encode(), "query_string": query.encode(),
             "root_path": "", "headers": [(b"host", b"127.0.0.1"), (b"cookie", cookie.encode())],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80), "state": {}}
    status, body = 0, []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))
    await app(scope, receive, send)
    return status, b"".join(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--db", default="/tmp/benchapp/s0.1.sqlite3")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--sort", default="tottime", help="pstats sort key: tottime or cumulative")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--no-page-memo", action="store_true",
                        help="read and render every record page (what a page costs when the database changed)")
    parser.add_argument("--user", default="bench")
    parser.add_argument("--password", default="benchpass")
    parser.add_argument("--dump", help="write the profile's stats to this file")
    parser.add_argument("--keep-signed-in", action="store_true",
                        help="remember the signed-in user for the whole run (users.SIGNED_IN_TTL), so that a slow "
                             "run (valgrind) does not add a re-read of the user every second: steady counts")
    args = parser.parse_args()
    if args.keep_signed_in:
        users.SIGNED_IN_TTL = 3600.0
    engine = make_engine(f"sqlite:///{args.db}")
    app = create_app(load_config(CONFIG), engine, secret_key=SECRET, page_memo=not args.no_page_memo)
    cookie = sign_in(app, args.user, args.password)
    anyio.to_thread.run_sync = _inline
    statements = [0]
    event.listen(engine, "before_cursor_execute", lambda *a: statements.__setitem__(0, statements[0] + 1))
    loop = asyncio.new_event_loop()
    for path in args.paths:
        for _ in range(3):                       # warm caches (SQLAlchemy, Jinja, Babel)
            status, body = loop.run_until_complete(request(app, path, cookie))
            if status != 200:
                raise SystemExit(f"{path}: {status} {body[:300]!r}")
        statements[0] = 0
        profiler = None if args.no_profile else cProfile.Profile()
        batches: list[float] = []           # CPU ms per request of each batch of 10: the best is the steadiest
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        for done in range(0, args.runs, 10):
            cpu = time.process_time()
            for _ in range(min(10, args.runs - done)):
                loop.run_until_complete(request(app, path, cookie))
            batches.append((time.process_time() - cpu) * 1000 / min(10, args.runs - done))
        if profiler:
            profiler.disable()
        ms = (time.perf_counter() - started) * 1000 / args.runs
        print(f"{path}: {ms:.2f} ms/request, CPU ms/request best {min(batches):.2f} median "
              f"{statistics.median(batches):.2f}{' (profiled)' if profiler else ''}, "
              f"{statements[0] / args.runs:.1f} SQL statements/request, {len(body):,} bytes")
        if profiler:
            if args.dump:
                profiler.dump_stats(args.dump)
            pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)
    engine.dispose()


if __name__ == "__main__":
    main()
