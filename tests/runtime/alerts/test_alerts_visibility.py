"""A recipient never gets a value they may not read: hidden fields are blank on the record and on the
records its links lead to, and a linked record they may not read gives no content (real SMTP bodies)."""
from __future__ import annotations

from engine.runtime.actor import SYSTEM

from .conftest import FILES

ROLES = """
roles:
  admin: {all: true}
  rep:
    entities:
      contract: {read: own, create: true, update: own, delete: own}
      task:     {read: own, create: true, update: own, delete: own}
      account:  {read: own, create: true, update: own}
    hidden_fields: [account.credit_limit, contract.value]
  manager:
    inherits: rep
    entities:
      contract: {read: team, update: team}
"""

FILES_WITH_ACCOUNTS = {
    "roles.yaml": ROLES,
    "entities/account.yaml": """
entity: account
traits: [owned]
fields:
  name: {type: string, required: true}
  credit_limit: {type: money}
""",
    "entities/contract.yaml": FILES["entities/contract.yaml"] + "  account: {type: link, entity: account}\n",
    "alerts/signed.yaml": """
alert: signed
entity: contract
trigger: {event: created}
notify:
  - {to: owner, via: [email]}
  - {to: {user: root}, via: [email]}
template: signed
""",
    "templates/signed.subject.txt": "Signed: {{ record.title }}",
    "templates/signed.email.html": ("<p>Account [{{ record.account.name }}] limit [{{ record.account.credit_limit|money }}]"
                                    " value [{{ record.value|money }}]</p>"
                                    "{% if record.account %}<p>account readable</p>{% endif %}"),
}


def bodies(world) -> dict[str, str]:
    """recipient address -> the plain-text part of what the SMTP server received."""
    out = {}
    for received in world.mail.received:
        mail = received["mail"]
        text = mail.get_body(preferencelist=("plain",)).get_content()
        html = mail.get_body(preferencelist=("html",)).get_content()
        out[received["to"][0]] = text + "\n" + html
    return out


def test_hidden_fields_of_linked_records_and_unreadable_links_give_no_content(world_factory):
    world = world_factory(FILES_WITH_ACCOUNTS)
    world.users.add("root", roles=["admin"], team="hq", email="root@example.test")
    alice, sam = world.ids["alice"], world.ids["sam"]
    own = world.records.create(SYSTEM, "account", {"name": "Alfa Kft", "credit_limit": 7777777, "owner": alice})
    foreign = world.records.create(SYSTEM, "account", {"name": "Béta Zrt", "credit_limit": 8888888, "owner": sam})
    world.contract(title="Own account", account=own["id"], value=5555555)
    world.alerts.deliver()
    got = bodies(world)
    assert set(got) == {"alice@example.test", "root@example.test"}
    assert "Account [Alfa Kft] limit [] value []" in got["alice@example.test"]
    assert "account readable" in got["alice@example.test"]
    for secret in ("7", "5"):
        assert secret * 7 not in got["alice@example.test"].replace("\u00a0", "").replace(" ", "")
    admin_text = got["root@example.test"].replace("\u00a0", "").replace(" ", "")
    assert "7777777" in admin_text and "5555555" in admin_text      # the same message, to someone who may

    world.mail.received.clear()
    world.contract(title="Foreign account", account=foreign["id"], value=1)
    world.alerts.deliver()
    got = bodies(world)
    assert "Account [] limit [] value []" in got["alice@example.test"]
    assert "Béta" not in got["alice@example.test"] and "8888888" not in got["alice@example.test"]
    assert "account readable" not in got["alice@example.test"]
    assert "Béta Zrt" in got["root@example.test"] and "account readable" in got["root@example.test"]
    assert {r["status"] for r in world.outbox(alert="signed")} == {"sent"}
