"""Delivery channels: how an outbox message leaves the engine (e-mail over SMTP, SMS over HTTP).

A channel opens a `Session` (one SMTP connection, one HTTP client) for a batch
and sends `Message`s through it; `send` returns when the server accepted the
message and raises `DeliveryError` (or any OSError) when it did not. Every
message carries an idempotency key derived from its outbox id (`Message-ID`
for e-mail, the `Idempotency-Key` header for SMS), so a message sent again
after a crash between the server's answer and our bookkeeping is recognisable
as the same one. In-app notifications need no channel: they are written in
the firing's own transaction (see alerts/firing.py).

`CHANNELS` is the extension point: a name -> factory(company channels settings).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Protocol

from ...metadata import model as m


class DeliveryError(Exception):
    """The server refused the message, or the channel is not set up; the text says which and why."""


class ConnectionLost(DeliveryError):
    """The connection broke mid-batch: the rest of the batch waits for the next attempt."""


@dataclass(frozen=True, slots=True)
class Message:
    outbox_id: int
    channel: str
    address: str
    subject: str
    text: str
    html: str | None

    @property
    def key(self) -> str:
        """The idempotency key: the same for every attempt of this outbox row."""
        return f"crm-outbox-{self.outbox_id}"


class Session(Protocol):
    def send(self, message: Message) -> None: ...
    def close(self) -> None: ...


class Channel(Protocol):
    def open(self) -> Session: ...


def setting(value: str | None) -> str | None:
    """`env:NAME` -> the environment variable's value at run time (None if unset); other text as is."""
    if value and value.startswith("env:"):
        return os.environ.get(value[4:]) or None
    return value


def build_channels(company: m.Company) -> dict[str, Channel]:
    return {name: factory(company.channels) for name, factory in CHANNELS.items()}


def _email(ch: m.Channels) -> Channel:
    from .email import SmtpChannel
    return SmtpChannel(ch.smtp_url, ch.email_from)


def _sms(ch: m.Channels) -> Channel:
    from .sms import HttpSmsChannel
    return HttpSmsChannel(ch.sms_gateway_url, ch.sms_sender)


CHANNELS: dict[str, Callable[[m.Channels], Channel]] = {"email": _email, "sms": _sms}
