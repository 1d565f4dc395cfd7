"""SMS over an HTTP gateway: `channels.sms.gateway_url` (usually `env:CRM_SMS_URL`).

The request, documented in docs/alerts.md: `POST <gateway_url>` with
`Content-Type: application/json`, body `{"sender": "...", "to": "+3630...", "text": "..."}`
(`to` in E.164) and the header `Idempotency-Key: crm-outbox-<id>`. Any 2xx
answer means accepted; anything else (or no answer) is a failure to retry.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import phonenumbers

from . import DeliveryError, Message, setting


def e164(number: str) -> str:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException as exc:
        raise DeliveryError(f"phone number '{number}' is not in international form (+36...): {exc}") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise DeliveryError(f"phone number '{number}' is not a possible number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class HttpSmsChannel:
    def __init__(self, url: str | None, sender: str | None, timeout: float = 15):
        self.url = url
        self.sender = sender or "CRM"
        self.timeout = timeout

    def open(self) -> "HttpSmsSession":
        url = setting(self.url)
        if not url:
            raise DeliveryError(f"SMS is not set up: channels.sms.gateway_url is {self.url or 'missing'}"
                                + (" and that variable is not set" if self.url and self.url.startswith("env:") else ""))
        return HttpSmsSession(url, self.sender, self.timeout)


class HttpSmsSession:
    def __init__(self, url: str, sender: str, timeout: float):
        self.url = url
        self.sender = sender
        self.timeout = timeout

    def send(self, message: Message) -> None:
        body = json.dumps({"sender": self.sender, "to": e164(message.address), "text": message.text}).encode()
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json", "Idempotency-Key": message.key})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"SMS gateway answered {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise DeliveryError(f"SMS gateway not reachable: {exc}") from exc
        if not 200 <= status < 300:
            raise DeliveryError(f"SMS gateway answered {status}")

    def close(self) -> None:
        pass
