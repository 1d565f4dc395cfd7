"""`run_alerts` and `notified` for `crm test` (spec section 12), with real receivers.

The first test that needs them starts, once per process, a real SMTP server
(aiosmtpd) and an HTTP SMS receiver on loopback; each scene's alert service
sends to them. `notified` counts the recipient's outbox rows marked sent for
the alert and channel, and for e-mail and SMS also requires that the receiver
really got each of them (matched by Message-ID / Idempotency-Key), so a
scenario passes only when the message reached a server.
"""
from __future__ import annotations

import asyncio
import atexit
import json
import socket
import threading
from email import message_from_bytes
from email.parser import BytesHeaderParser
from email import policy as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Callable, Mapping

from sqlalchemy import select

from ..channels.email import SmtpChannel
from ..channels.sms import HttpSmsChannel
from ..scenario_checks import CheckFailed
from .service import AlertService

if TYPE_CHECKING:
    from ..scenarios import Scene

Handler = Callable[["Scene", Mapping[str, Any]], None]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Received(dict):
    """One message the SMTP server accepted; `mail` (parsed in full) on demand."""

    def __init__(self, message_id: str, to: list[str], subject: str, raw: bytes):
        super().__init__(message_id=message_id, to=to, subject=subject)
        self.message_id = message_id
        self.raw = raw

    def __getitem__(self, key: str) -> Any:
        if key == "mail":
            return message_from_bytes(self.raw, policy=email_policy.default)
        return super().__getitem__(key)


class MailSink:
    """aiosmtpd handler keeping what the server accepted: Message-ID -> number of times received."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.delay = 0.0           # seconds before taking the message (tests: a slow server)
        self.answer_delay = 0.0    # seconds between taking the message and answering (tests: a lost answer)

    async def handle_DATA(self, server, session, envelope) -> str:   # aiosmtpd's hook
        if self.delay:
            await asyncio.sleep(self.delay)
        headers = BytesHeaderParser(policy=email_policy.default).parsebytes(envelope.content)
        with self.lock:
            self.received.append(Received(str(headers["Message-ID"]), list(envelope.rcpt_tos),
                                          str(headers["Subject"]), envelope.content))
        if self.answer_delay:
            await asyncio.sleep(self.answer_delay)
        return "250 OK"

    def keys(self) -> list[str]:
        with self.lock:
            return [m.message_id.strip("<>").split("@")[0] for m in self.received]


class SmsSink(ThreadingHTTPServer):
    """An HTTP SMS gateway on loopback: keeps each POSTed JSON body with its Idempotency-Key."""

    daemon_threads = True

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.fail_with: int | None = None          # tests set a status to answer with

        sink = self

        class _Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:   # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if sink.fail_with:
                    self.send_response(sink.fail_with)
                    self.end_headers()
                    return
                with sink.lock:
                    sink.received.append({**body, "key": self.headers.get("Idempotency-Key")})
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/sms"

    def keys(self) -> list[str]:
        with self.lock:
            return [str(m["key"]) for m in self.received]


class Receivers:
    """A real SMTP server and SMS receiver for the process (started on first use)."""

    _instance: "Receivers | None" = None

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller
        self.mail = MailSink()
        self.smtp_port = free_port()
        self.controller = Controller(self.mail, hostname="127.0.0.1", port=self.smtp_port)
        self.controller.start()
        self.sms = SmsSink()
        atexit.register(self.stop)

    @classmethod
    def get(cls) -> "Receivers":
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    @property
    def smtp_url(self) -> str:
        return f"smtp://127.0.0.1:{self.smtp_port}"

    def stop(self) -> None:
        self.controller.stop()
        self.sms.shutdown()


def setup(scene: "Scene") -> None:
    """Each scene gets its alert service (event triggers listen from the first step, approval notices
    once the scene also has its workflow: whichever part sets up second wires them)."""
    if not scene.config.alerts and not scene.config.approvals:
        return
    receivers = Receivers.get()
    company = scene.config.company
    channels = {"email": SmtpChannel(receivers.smtp_url, company.channels.email_from),
                "sms": HttpSmsChannel(receivers.sms.url, company.channels.sms_sender)}
    # No lookback limit: a test's clock jumps; moments before a record got its date never fire anyway.
    scene.alerts = AlertService(scene.records, clock=scene.clock, lookback=None,  # type: ignore[attr-defined]
                                channels=channels)
    workflow = getattr(scene, "workflow", None)
    if workflow is not None:
        scene.alerts.follow_approvals(workflow.approvals)  # type: ignore[attr-defined]


def _service(scene: "Scene") -> AlertService:
    service = getattr(scene, "alerts", None)
    if service is None:
        raise CheckFailed("this configuration has no alerts")
    return service


def _run_alerts(scene: "Scene", args: Mapping[str, Any]) -> None:
    service = _service(scene)
    service.run_due()
    service.deliver()


def _notified(scene: "Scene", args: Mapping[str, Any]) -> None:
    spec = args.get("notified") or {}
    service = _service(scene)
    service.deliver()          # event alerts fired by the last steps are sent like a worker would
    username, alert, via = str(spec.get("user")), str(spec.get("alert")), str(spec.get("via"))
    if alert not in scene.config.alerts and alert in scene.config.approvals:
        from .approval_notices import alert_name
        alert = alert_name(alert)          # an approval's notices (alerts/approval_notices.py)
    expected = int(spec.get("count", 1))
    tables = scene.records.tables
    outbox, users = tables("crm_outbox"), tables.users
    with scene.records.engine.connect() as conn:
        user_id = conn.execute(select(users.c.id).where(users.c.username == username)).scalar()
        if user_id is None:
            raise CheckFailed(f"there is no user '{username}'")
        rows = conn.execute(select(outbox.c.id, outbox.c.status, outbox.c.last_error).where(
            outbox.c.recipient_id == user_id, outbox.c.alert == alert, outbox.c.channel == via)).all()
    sent = [r for r in rows if r.status == "sent"]
    if via in ("email", "sms"):
        receivers = Receivers.get()
        got = set(receivers.mail.keys() if via == "email" else receivers.sms.keys())
        missing = [r.id for r in sent if f"crm-outbox-{r.id}" not in got]
        if missing:
            raise CheckFailed(f"outbox rows {missing} are marked sent but the {via} receiver never got them")
    if len(sent) != expected:
        problems = "; ".join(f"{r.status}: {r.last_error}" for r in rows if r.status != "sent")
        raise CheckFailed(f"{username} got {len(sent)} {via} message(s) of alert {alert}, expected {expected}"
                          + (f" (not sent: {problems})" if problems else ""))


STEPS: dict[str, Handler] = {"run_alerts": _run_alerts}
CHECKS: dict[str, Handler] = {"notified": _notified}
