"""Users and teams: add, authenticate, disable, roles; the `crm user` and `crm access` commands."""
from __future__ import annotations

import io
import sys

import pytest

from engine.cli import main
from engine.runtime.errors import Conflict, ValidationFailed


def test_add_authenticate_disable(crm):
    anna = crm.users.add("anna", roles=["rep"], team="east", password="s3cret", email="anna@example.test",
                         phone="06 30 123 4567")
    assert anna.roles == {"rep"} and anna.team == "east"
    assert crm.users.authenticate("anna", "s3cret") == anna
    assert crm.users.authenticate("anna", "wrong") is None
    assert crm.users.authenticate("nobody", "s3cret") is None
    info = next(u for u in crm.users.list() if u.username == "anna")
    assert info.phone == "+36301234567" and info.roles == ("rep",)
    crm.users.disable("anna")
    assert crm.users.authenticate("anna", "s3cret") is None and crm.users.actor("anna") is None


def test_roles_must_exist_and_names_are_unique(crm):
    with pytest.raises(ValidationFailed) as info:
        crm.users.add("x", roles=["rep", "wizard"], email="bad")
    assert "'wizard' is not a role" in info.value.fields["roles"][0] and "email" in info.value.fields
    with pytest.raises(Conflict):
        crm.users.add("alice", roles=["rep"])


def test_set_roles_and_team(crm):
    crm.users.set_roles("alice", ["manager"])
    crm.users.set_team("alice", "west")
    alice = crm.users.actor("alice")
    assert alice.roles == {"manager"} and alice.team == "west"


@pytest.fixture
def cli(make_world, write_config, db_url, monkeypatch, capsys):
    world = make_world()
    root = world.config.root

    def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main([*argv, "--config", root, "--db", db_url])
        out = capsys.readouterr()
        return code, out.out, out.err
    return run


def test_cli_user_add_list_disable_and_access(cli, sqlite_only):
    code, out, err = cli("user", "add", "dora", "--role", "rep", "--team", "west", "--password-stdin",
                         stdin="pw\n")
    assert code == 0, err
    code, out, _ = cli("user", "list")
    assert "dora" in out and "west" in out and "rep" in out
    code, _, err = cli("user", "add", "eve", "--role", "wizard", "--password-stdin", stdin="pw\n")
    assert code == 1 and "'wizard' is not a role" in err
    code, out, _ = cli("access", "dora", "account")
    assert code == 0 and "effective on account: read team" in out
    assert cli("user", "disable", "dora")[0] == 0
    code, _, err = cli("access", "dora", "account")
    assert code == 1 and "no active user" in err


@pytest.fixture
def sqlite_only(db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("the command line is the same on both databases")


def test_the_signed_in_user_is_remembered_briefly_and_never_past_a_change(crm, monkeypatch):
    """`Users.signed_in`: no query while fresh; a write through any Users object of the process is seen at
    the next call; a write it cannot see (another process: here plain SQL) within SIGNED_IN_TTL seconds."""
    import dataclasses
    import time

    import sqlalchemy as sa

    from engine.runtime import users as users_module
    from engine.runtime.users import Users
    monkeypatch.setattr(users_module, "SIGNED_IN_TTL", 0.3)
    server = Users(crm.config, crm.engine, crm.tables)            # the web server's own directory
    admin = Users(crm.config, crm.engine, crm.tables)             # another one: the admin pages, a job
    anna = crm.users.add("anna", roles=["rep"], team="east")
    statements: list[str] = []
    sa.event.listen(crm.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    assert server.signed_in(anna.id) == anna and len(statements) == 1      # user and roles in one statement
    assert server.signed_in(anna.id) == anna and len(statements) == 1      # remembered
    admin.set_roles("anna", ["manager"])
    assert server.signed_in(anna.id).roles == {"manager"}                  # a write in this process: at once
    admin.disable("anna")
    assert server.signed_in(anna.id) is None
    admin.enable("anna")
    assert server.signed_in(anna.id) == dataclasses.replace(anna, roles=frozenset({"manager"}))
    with crm.engine.begin() as conn:                                       # another process disables her
        conn.execute(sa.update(crm.tables.users).where(crm.tables.users.c.id == anna.id).values(active=False))
    started = time.monotonic()
    while server.signed_in(anna.id) is not None:
        assert time.monotonic() - started < 0.3 + 0.2, "still signed in past SIGNED_IN_TTL"
        time.sleep(0.02)
