"""`crm serve --worker`: the job queue consumer runs inside the web server's process.

A real `crm serve --worker` subprocess on the alert company; this test process saves a ticket
as critical, which fires the `critical` event alert and queues its e-mail (as the web process
does); the server's own consumer must deliver it to the real SMTP server, with no `crm worker`.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from engine.runtime.actor import SYSTEM
from engine.runtime.alerts.queue import Jobs, make_huey
from engine.runtime.alerts.scenario_steps import free_port

from .conftest import FILES, make_world

ROOT = Path(__file__).resolve().parents[3]
SECRET = "serve-worker-test-secret-key-0123456789abcdef"


def _wait(check, timeout: float, what: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"crm serve exited {proc.returncode} while waiting for {what}:\n"
                                 f"{proc.stdout.read() if proc.stdout else ''}")
        if check():
            return
        time.sleep(0.1)
    proc.terminate()
    raise AssertionError(f"{what}: not within {timeout} s\n{proc.communicate(timeout=15)[0]}")


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def test_crm_serve_worker_delivers_queued_email_without_a_separate_worker(db_url, write_config, mail_server,
                                                                            sms_server, tmp_path):
    root = write_config(FILES)
    world = make_world(root, db_url, mail_server, sms_server)        # tables and users, as after `crm migrate`
    port = free_port()
    env = {**os.environ, "CRM_SECRET_KEY": SECRET, "PYTHONPATH": str(ROOT),
           "CRM_TEST_SMTP_URL": mail_server.url, "CRM_TEST_SMS_URL": sms_server.url}
    env.pop("CRM_REDIS_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--worker", "--config", str(root),
                             "--db", db_url, "--port", str(port), "--no-access-log"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait(lambda: _healthy(port), 30, "the server", proc)
        # This process saves like the web process does: the alert fires after the commit, and the
        # e-mail is queued on the same queue (SqliteHuey in the server's var/, or PostgresHuey).
        Jobs(make_huey(queue_file=tmp_path / "var" / "jobs.sqlite3", db_url=db_url), world.alerts)
        ticket = world.records.create(SYSTEM, "ticket", {"subject": "Printer on fire", "owner": world.ids["alice"]})
        world.records.update(SYSTEM, "ticket", ticket["id"], {"severity": "critical"}, None)
        [queued] = world.outbox(channel="email")
        assert queued["status"] != "sent"       # nothing in this process sends it
        _wait(lambda: any("Printer on fire" in m["subject"] for m in mail_server.received),
              30, "the e-mail at the SMTP server", proc)
        [sent] = world.outbox(channel="email")
        assert sent["status"] == "sent" and sent["id"] == queued["id"]
        [mail] = [m for m in mail_server.received if "Printer on fire" in m["subject"]]
        assert "alice@example.test" in mail["to"]
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
        world.records.engine.dispose()
    assert proc.returncode == 0, output
    assert "job queue consumer running in this process" in output and "job queue consumer stopped" in output
