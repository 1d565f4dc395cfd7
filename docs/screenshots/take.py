"""Takes the README's screenshots: the default company with demo data, in real Chromium.

    .venv/bin/python docs/screenshots/take.py [OUT_DIR]

Builds the demo (`engine/runtime/demo`, scale 0.05, seed 7) on a temporary SQLite
file, serves the app on a loopback port and walks a sales rep (`rep1`) through the
pages shown in README.md, writing 1280x800 PNGs into this folder (or OUT_DIR).
Needs Debian's /usr/bin/chromium and Playwright (a dev dependency).
"""
from __future__ import annotations

import os
import socket
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402
from playwright.sync_api import Page, sync_playwright  # noqa: E402

from engine.metadata.loader import load_config  # noqa: E402
from engine.runtime.actor import SYSTEM  # noqa: E402
from engine.runtime.db import make_engine  # noqa: E402
from engine.runtime.demo.company import make_domain  # noqa: E402
from engine.runtime.demo.people import DEMO_PASSWORD  # noqa: E402
from engine.runtime.demo.run import generate  # noqa: E402
from engine.runtime.revisions import push  # noqa: E402
from ui.app import create_app  # noqa: E402
from ui.services import build_services  # noqa: E402

SIZE = {"width": 1280, "height": 800}
WAIT = 20_000


def _serve(app: Any) -> tuple[str, uvicorn.Server, threading.Thread]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server, thread


def _recompress(path: Path) -> None:
    """Re-deflates the PNG's image data at the highest level (Chromium favours speed); lossless."""
    data = path.read_bytes()
    chunks, pos, idat = [], 8, b""
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IDAT":
            idat += body
            if data[pos + 4:pos + 8] != b"IDAT":
                chunks.append((b"IDAT", zlib.compress(zlib.decompress(idat), 9)))
        else:
            chunks.append((kind, body))
    out = bytearray(data[:8])
    for kind, body in chunks:
        out += len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")
    if len(out) < len(data):
        path.write_bytes(bytes(out))


def _shot(page: Page, out: Path, name: str) -> None:
    path = out / f"{name}.png"
    page.screenshot(path=str(path))
    _recompress(path)
    print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}  {path.stat().st_size // 1024} KB")


def _sign_in(page: Page, url: str, user: str) -> None:
    page.goto(url + "/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")


def _pick(page: Page, box: str, options: str, text: str, label: str) -> None:
    typed = "__search=" + quote(text, safe="-_.!~*'()")       # as encodeURIComponent writes it
    with page.expect_response(lambda r: "/lookup?" in r.url and r.url.endswith(typed), timeout=WAIT):
        page.fill(box, text)
    page.locator(f"{options} label", has_text=label).locator("input").check()


def take(out: Path) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="crm-shots-"))
    os.environ.setdefault("CRM_FILES_DIR", str(tmp / "files"))
    config = load_config(str(ROOT / "configs"))
    engine = make_engine(f"sqlite:///{tmp / 'demo.sqlite3'}")
    push(engine, ROOT / "configs", author="crm demo", reason="demo database", run_scenarios=False)
    svc = build_services(config, engine)
    generate(svc.records, scale=0.05, seed=7, domain=make_domain(config))
    rep = svc.users.actor("rep1")
    assert rep is not None
    for user in ("rep1", "sales_manager1", "admin"):
        shown = svc.users.actor(user)
        assert shown is not None
        svc.set_locale(shown.id, "en")
    deals = {d["account"] for d in svc.records.list(rep, "deal", limit=200).rows}
    account = next(a for a in svc.records.list(rep, "account", limit=200, sort="-revenue_12m").rows
                   if a["id"] in deals and a["segment"])
    products = [p for p in svc.records.list(SYSTEM, "product", limit=50).rows if p["active"]][:2]
    url, server, thread = _serve(create_app(config, engine, secret_key=os.urandom(32).hex()))
    out.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_context(viewport=SIZE).new_page()
            _sign_in(page, url, "rep1")
            page.goto(url + "/dashboards/rep")
            page.wait_for_load_state("networkidle")
            _shot(page, out, "dashboard")
            page.goto(url + f"/records/account?segment={account['segment']}")
            _shot(page, out, "accounts-filtered")
            page.goto(url + f"/records/account/{account['id']}")
            _shot(page, out, "account-360")
            page.evaluate("document.querySelector('[data-related=deal]').scrollIntoView()")
            _shot(page, out, "account-360-related")

            page.goto(url + "/records/deal/new")
            page.fill("#f-name", "Warehouse extension, phase 2")
            _pick(page, "#f-account-search", "#f-account-options", account["name"].split()[0], account["name"])
            for row in (0, 1):
                before = page.locator("#f-items tbody tr").count()
                page.click("#f-items > button.button--secondary")
                page.locator("#f-items tbody tr").nth(before).wait_for()
                page.wait_for_timeout(150)       # htmx wires the new row up after its settle delay
            for row, (product, qty, price) in enumerate(zip(products, ("120", "40"), ("1850", "12400"))):
                _pick(page, f"#f-items-{row}-product-search", f"#f-items-{row}-product-options",
                      product["name"][:6], product["name"])
                page.fill(f"[name='items.{row}.quantity']", qty)
                page.fill(f"[name='items.{row}.unit_price']", price)
            page.press("[name='items.1.unit_price']", "Tab")
            page.wait_for_load_state("networkidle")
            page.fill("#f-discount_pct", "55")
            page.evaluate("document.getElementById('f-items').scrollIntoView()")
            page.wait_for_load_state("networkidle")
            _shot(page, out, "deal-lines")
            page.click("form button[type=submit].button--primary")
            page.wait_for_load_state()
            _shot(page, out, "validation-error")
            page.fill("#f-discount_pct", "10")
            page.click("form button[type=submit].button--primary")
            page.wait_for_url("**/records/deal/*")
            deal_id = page.url.rsplit("/", 1)[1]

            other = browser.new_context(viewport=SIZE).new_page()
            _sign_in(other, url, "rep1")
            page.goto(f"{url}/records/deal/{deal_id}/edit")
            other.goto(f"{url}/records/deal/{deal_id}/edit")
            other.fill("#f-next_step", "Site visit with the buyer on Monday")
            other.fill("#f-discount_pct", "12")
            other.click("form button[type=submit].button--primary")
            other.wait_for_url(f"{url}/records/deal/{deal_id}")
            page.fill("#f-description", "Pallets to be delivered to the north gate.")
            page.fill("#f-discount_pct", "8")
            page.click("form button[type=submit].button--primary")
            page.locator("section.conflict").wait_for()
            _shot(page, out, "conflict")

            # A Hungarian browser too, so that the date inputs' placeholders match the page's language.
            page = browser.new_context(viewport=SIZE, locale="hu-HU").new_page()
            _sign_in(page, url, "rep1")
            page.goto(url + f"/records/account/{account['id']}")
            page.click("summary.user-menu__name")
            page.select_option("#locale-select", "hu")
            page.click(".user-menu__form button.button >> nth=0")
            page.wait_for_load_state()
            page.goto(url + "/records/deal")
            _shot(page, out, "hungarian")

            page = browser.new_context(viewport=SIZE).new_page()
            _sign_in(page, url, "sales_manager1")
            page.goto(url + "/forecasts/sales?period=this_year")
            page.wait_for_load_state("networkidle")
            _shot(page, out, "forecast")

            # The admin's YAML editor with a mistake typed in: the real validator answers at its line.
            page = browser.new_context(viewport=SIZE).new_page()
            _sign_in(page, url, "admin")
            page.goto(url + "/admin/config/doc/approvals/big_discount.yaml")
            editor = page.locator("[data-config-text]")
            editor.fill(editor.input_value().replace('when: "discount_pct > 15 or', 'when: "discount_pct > or'))
            page.locator("#config-errors [data-line]").first.wait_for(timeout=WAIT)
            _shot(page, out, "admin-config-editor")
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


if __name__ == "__main__":
    take(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
