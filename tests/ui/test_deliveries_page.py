"""Failed deliveries for administrators: the list with each error, retry one or all; nobody else gets in."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from ui_helpers import csrf_token

from engine.runtime.actor import SYSTEM
from engine.runtime.records import Records
from engine.runtime.tables import build_tables

NOW = dt.datetime(2025, 1, 2, 8, 0, tzinfo=dt.timezone.utc)


def failed_messages(site) -> list[int]:
    tables = build_tables(site.config)
    anna = site.users.actor("anna")
    account = Records(site.config, site.engine, tables).create(SYSTEM, "account", {"name": "ACME", "owner": anna.id})
    with site.engine.begin() as conn:
        firing = conn.execute(tables("crm_alert_firings").insert().values(
            alert="renewal", entity="account", record_id=account["id"], moment="b7d@x", fired_at=NOW)
        ).inserted_primary_key[0]
        ids = []
        for channel, status, error in (("email", "failed", "SMTP 451 <script>x</script>"),
                                       ("sms", "failed", "SMS gateway answered 500"),
                                       ("in_app", "sent", None)):
            ids.append(conn.execute(tables("crm_outbox").insert().values(
                firing_id=firing, alert="renewal", entity="account", record_id=account["id"],
                recipient_id=anna.id, channel=channel, status=status, attempts=5, next_attempt_at=NOW,
                created_at=NOW, subject="Renewal of ACME", body="", last_error=error)).inserted_primary_key[0])
    return ids


def statuses(site) -> dict[int, tuple[str, int]]:
    outbox = build_tables(site.config)("crm_outbox")
    with site.engine.connect() as conn:
        return {r.id: (r.status, r.attempts) for r in conn.execute(sa.select(outbox.c.id, outbox.c.status,
                                                                             outbox.c.attempts))}


def test_admin_sees_failed_messages_with_errors_and_retries_one_then_all(site):
    email, sms, sent = failed_messages(site)
    client = site.signed_in("root")
    page = client.get("/admin/deliveries").text
    assert f'data-delivery="{email}"' in page and f'data-delivery="{sms}"' in page
    assert f'data-delivery="{sent}"' not in page
    assert "SMS gateway answered 500" in page
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page          # errors are escaped
    token = csrf_token(page)
    response = client.post("/admin/deliveries/retry", data={"id": str(sms), "csrf_token": token},
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].endswith("retried=1")
    assert statuses(site)[sms] == ("pending", 0) and statuses(site)[email] == ("failed", 5)
    client.post("/admin/deliveries/retry", data={"all": "1", "csrf_token": token})
    assert statuses(site)[email] == ("pending", 0) and statuses(site)[sent] == ("sent", 5)
    assert "Nothing failed" in client.get("/admin/deliveries").text


def test_the_page_and_the_retry_are_for_administrators_only(site):
    email, _, _ = failed_messages(site)
    client = site.signed_in("anna")
    assert client.get("/admin/deliveries").status_code == 403
    assert "Failed deliveries" not in client.get("/").text
    token = csrf_token(client.get("/").text)
    assert client.post("/admin/deliveries/retry", data={"id": str(email), "csrf_token": token}).status_code == 403
    assert statuses(site)[email] == ("failed", 5)
    assert "Failed deliveries" in site.signed_in("root").get("/").text


def test_retry_needs_the_csrf_token(site):
    email, _, _ = failed_messages(site)
    response = site.signed_in("root").post("/admin/deliveries/retry", data={"id": str(email)})
    assert response.status_code == 403 and statuses(site)[email] == ("failed", 5)


def test_a_possibly_sent_message_is_listed_as_such_and_only_sent_again_by_hand(site):
    email, sms, _ = failed_messages(site)
    outbox = build_tables(site.config)("crm_outbox")
    with site.engine.begin() as conn:
        conn.execute(outbox.update().where(outbox.c.id == email).values(
            status="uncertain", attempts=1, last_error="the worker stopped after handing this message over"))
    client = site.signed_in("root")
    page = client.get("/admin/deliveries").text
    row = page[page.index(f'data-delivery="{email}"'):]
    assert 'data-status="uncertain"' in row[:60] and "Possibly sent" in row[:row.index("</tr>")]
    token = csrf_token(page)
    client.post("/admin/deliveries/retry", data={"id": str(email), "csrf_token": token})
    assert statuses(site)[email] == ("pending", 0)
