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
