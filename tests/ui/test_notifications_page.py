"""The bell: unread count in the navigation, the list of one's own notifications, mark read."""
from __future__ import annotations

import datetime as dt

from ui_helpers import csrf_token

from engine.runtime.tables import build_tables


def notify(site, username: str, title: str) -> None:
    tables = build_tables(site.config)
    user_id = site.users.actor(username).id
    with site.engine.begin() as conn:
        conn.execute(tables("crm_notifications").insert().values(
            user_id=user_id, title=title, body="Body of " + title, link="/records/account/1",
            created_at=dt.datetime(2025, 1, 2, 8, 0, tzinfo=dt.timezone.utc)))


def test_bell_count_list_and_mark_read(site):
    notify(site, "anna", "Renewal due")
    notify(site, "anna", "Deal won")
    notify(site, "mona", "Not for anna")
    client = site.signed_in("anna")
    home = client.get("/").text
    assert 'hx-get="/notifications/count"' in home
    assert client.get("/notifications/count").text.endswith(">2</span>")
    page = client.get("/notifications").text
    assert "Renewal due" in page and "Deal won" in page and "Not for anna" not in page
    token = csrf_token(page)
    first = page.split('name="id" value="')[1].split('"')[0]
    client.post("/notifications/read", data={"id": first, "csrf_token": token}, follow_redirects=False)
    assert client.get("/notifications/count").text.endswith(">1</span>")
    response = client.post("/notifications/read", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert client.get("/notifications/count").text == ""
    assert "Értesítések" in site.signed_in("mona").get("/notifications").text


def test_record_page_lists_the_messages_sent_about_it_errors_for_admins_only(site):
    from engine.runtime.actor import SYSTEM
    from engine.runtime.records import Records
    tables = build_tables(site.config)
    anna = site.users.actor("anna")
    account = Records(site.config, site.engine, tables).create(SYSTEM, "account", {"name": "ACME", "owner": anna.id})
    now = dt.datetime(2025, 1, 2, 8, 0, tzinfo=dt.timezone.utc)
    with site.engine.begin() as conn:
        firing = conn.execute(tables("crm_alert_firings").insert().values(
            alert="renewal", entity="account", record_id=account["id"], moment="b7d@x", fired_at=now)).inserted_primary_key[0]
        conn.execute(tables("crm_outbox").insert(), [
            dict(firing_id=firing, alert="renewal", entity="account", record_id=account["id"], recipient_id=anna.id,
                 channel=channel, status=status, attempts=1, next_attempt_at=now, created_at=now,
                 subject="Renewal of ACME", body="", last_error=error)
            for channel, status, error in (("email", "sent", None), ("sms", "failed", "SMS gateway answered 500"))])
    path = f"/records/account/{account['id']}"
    page = site.signed_in("anna").get(path).text
    assert "Messages sent" in page and page.count("Renewal of ACME") == 2
    assert 'data-status="failed"' in page and "gateway answered 500" not in page
    assert "gateway answered 500" in site.signed_in("root").get(path).text
