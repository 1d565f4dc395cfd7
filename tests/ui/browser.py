"""What every real-browser test needs: the app served on a loopback port, and Chromium.

The browser is Debian's /usr/bin/chromium driven by Playwright (never a
downloaded browser). Outside CI a machine without it skips these tests; in CI
(`CI` set) a missing browser is a failure, since .ci/run installs it.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
import uvicorn
from ui_helpers import PASSWORD, SECRET

from ui.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                                    reason="needs Debian's /usr/bin/chromium (apt-get install chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(config: Any, engine: Any) -> Iterator[str]:
    """The real app under uvicorn in a thread; yields its base URL."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(config, engine, secret_key=SECRET), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])


def sign_in(page: Any, base_url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(base_url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(base_url + "/")


def console_errors(page: Any) -> list[str]:
    """A list that fills with the page's console errors (CSP violations show up here)."""
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    return problems
