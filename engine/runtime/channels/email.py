"""E-mail over SMTP: `channels.email.smtp_url` (`smtp://user:pass@host:25`, `smtps://...:465`,
`smtp://...?starttls=1`), usually `env:CRM_SMTP_URL`; the URL is read when a batch starts,
so a changed environment or config needs no restart of anything else.

Each message is multipart/alternative (plain text first, HTML second) with a
Message-ID derived from its outbox id: `<crm-outbox-42@host>`.
"""
from __future__ import annotations

import smtplib
import socket
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

from . import ConnectionLost, DeliveryError, Message, setting


class SmtpChannel:
    def __init__(self, url: str | None, sender: str | None, timeout: float = 30):
        self.url = url
        self.sender = sender or "CRM <crm@localhost>"
        self.timeout = timeout

    def open(self) -> "SmtpSession":
        url = setting(self.url)
        if not url:
            raise DeliveryError(f"e-mail is not set up: channels.email.smtp_url is {self.url or 'missing'}"
                                + (" and that variable is not set" if self.url and self.url.startswith("env:") else ""))
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise DeliveryError(f"channels.email.smtp_url: scheme '{parts.scheme}' is not smtp or smtps")
        host = parts.hostname or "localhost"
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
        cls = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
        client = cls(host, port, timeout=self.timeout)
        if client.sock is not None:     # commands are small writes: don't let Nagle hold them back
            client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if parse_qs(parts.query).get("starttls", ["0"])[0] in ("1", "true", "yes"):
            client.starttls()
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        return SmtpSession(client, self.sender)


class SmtpSession:
    def __init__(self, client: smtplib.SMTP, sender: str):
        self.client = client
        self.sender = sender
        name, address = parseaddr(sender)
        self.domain = address.rpartition("@")[2] or "localhost"
        self.from_header = formataddr((name, address), charset="utf-8")

    def send(self, message: Message) -> None:
        # email.mime (compat32) rather than EmailMessage: a third of the cost per message, same bytes on the wire.
        mail: MIMEMultipart | MIMEText
        if message.html:
            mail = MIMEMultipart("alternative")
            mail.attach(MIMEText(message.text or message.subject, "plain", "utf-8"))
            mail.attach(MIMEText(message.html, "html", "utf-8"))
        else:
            mail = MIMEText(message.text or message.subject, "plain", "utf-8")
        mail["From"] = self.from_header
        mail["To"] = message.address
        mail["Subject"] = Header(message.subject, "utf-8")
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = f"<{message.key}@{self.domain}>"
        try:
            refused = self.client.send_message(mail)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise ConnectionLost(f"SMTP connection lost sending to {message.address}: {exc}") from exc
        except smtplib.SMTPException as exc:
            raise DeliveryError(f"SMTP server refused the message to {message.address}: {exc}") from exc
        if refused:
            raise DeliveryError(f"SMTP server refused {', '.join(refused)}")

    def close(self) -> None:
        try:
            self.client.quit()
        except (smtplib.SMTPException, OSError):
            self.client.close()
