"""`pgiam add NAME --host H --user U ...`: config created or edited in place, stanza and pgpass written,
old pgpass entry dropped on a move, nothing written when anything is invalid."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgiam.config.model import parse_toml
from tests.conftest import Cli

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"
OTHER = "db2.abc123xyz.us-west-2.rds.amazonaws.com"


def cfg_path(home: Path) -> Path:
    return home / ".config" / "pgiam" / "config.toml"


def add(cli: Cli, name: str, *args: str, host: str = HOST, user: str = "alice") -> tuple[int, str, str]:
    r = cli("add", name, "--host", host, "--user", user, *args)
    return r.code, r.out, r.err


def pgpass_lines(home: Path) -> list[str]:
    return (home / ".pgpass").read_text().splitlines()


def test_creates_config_file_and_directory(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    assert not (isolated_env / ".config").exists()
    code, out, err = add(cli, "prod")
    assert code == 0, err
    assert cfg_path(isolated_env).read_text() == f'[services.prod]\nhost = "{HOST}"\nuser = "alice"\n'
    assert out.splitlines()[0] == f"prod: saved in {cfg_path(isolated_env)}"
    assert out.splitlines()[1].startswith("prod: refreshed (valid until ")
    stanza = (isolated_env / ".pg_service.conf").read_text()
    assert stanza.startswith("[prod]\n# managed by pgiam")
    assert stanza.split("\n", 2)[2] == f"host={HOST}\nport=5432\ndbname=alice\nuser=alice\nsslmode=verify-full\n"
    assert [ln.split(":")[:4] for ln in pgpass_lines(isolated_env)] == [[HOST, "5432", "alice", "alice"]]


def test_keeps_other_content_of_an_existing_config(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    original = (f'# team config\r\n[defaults]\r\nregion = "us-west-2"  # keep me\r\n\r\n'
                f'[services.other]\r\nhost = "{OTHER}"\r\nuser = "o"\r\n')
    p = cfg_path(isolated_env)
    p.parent.mkdir(parents=True)
    p.write_bytes(original.encode())
    code, _, err = add(cli, "prod", "--port", "6543", "--dbname", "app")
    assert code == 0, err
    text = p.read_bytes().decode()
    assert text == original + f'\r\n[services.prod]\r\nhost = "{HOST}"\r\nport = 6543\r\nuser = "alice"\r\n' \
                              'dbname = "app"\r\n'
    # changing one option keeps the others and the rest of the file
    code, out, err = add(cli, "prod", "--dbname", "app2")
    assert code == 0, err
    assert "prod: dbname: app → app2" in out.splitlines()
    assert p.read_bytes().decode() == original + f'\r\n[services.prod]\r\nhost = "{HOST}"\r\nport = 6543\r\n' \
                                                 'user = "alice"\r\ndbname = "app2"\r\n'
    # replacing it keeps the rest too
    code, _, err = add(cli, "prod", "--dbname", "app2", "--replace")
    assert code == 0, err
    assert p.read_bytes().decode() == original + f'\r\n[services.prod]\r\nhost = "{HOST}"\r\nuser = "alice"\r\n' \
                                                 'dbname = "app2"\r\n'


def test_set_lands_in_the_stanza_as_key_value(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    code, _, err = add(cli, "prod", "--set", "application_name=my app", "--set", "connect_timeout=5",
                       "--set", "options=-c search_path=a,b")
    assert code == 0, err
    stanza = (isolated_env / ".pg_service.conf").read_text()
    assert "\napplication_name=my app\nconnect_timeout=5\noptions=-c search_path=a,b\n" in stanza
    doc = parse_toml(cfg_path(isolated_env).read_bytes(), cfg_path(isolated_env))
    assert doc["services"]["prod"]["libpq"] == {"application_name": "my app", "connect_timeout": "5",
                                                "options": "-c search_path=a,b"}


def test_re_adding_elsewhere_removes_the_old_pgpass_entry(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    foreign = "*:*:*:postgres:hunter2\n"
    (isolated_env / ".pgpass").write_text(foreign)
    (isolated_env / ".pgpass").chmod(0o600)
    assert add(cli, "prod")[0] == 0
    assert add(cli, "dev", user="bob")[0] == 0
    assert add(cli, "prod", "--port", "6543", "--replace")[0] == 0
    lines = pgpass_lines(isolated_env)
    fields = sorted(ln.split(":")[:4] for ln in lines if ln.startswith(HOST))
    assert fields == [[HOST, "5432", "bob", "bob"], [HOST, "6543", "alice", "alice"]]
    assert foreign.strip() in lines
    assert add(cli, "prod", host=OTHER)[0] == 0
    fields = sorted(ln.split(":")[:4] for ln in pgpass_lines(isolated_env) if not ln.startswith("*"))
    assert fields == [[HOST, "5432", "bob", "bob"], [OTHER, "6543", "alice", "alice"]]  # port kept
    assert add(cli, "prod", host=OTHER, user="carol")[0] == 0  # a new user is a new key too
    fields = sorted(ln.split(":")[:4] for ln in pgpass_lines(isolated_env) if not ln.startswith("*"))
    assert fields == [[HOST, "5432", "bob", "bob"], [OTHER, "6543", "carol", "carol"]]


BAD = [
    (["--set", "novalue"], "--set 'novalue': expected KEY=VALUE"),
    (["--set", "=x"], "--set '=x': expected KEY=VALUE"),
    (["--set", "password=x"], "'libpq.password'"),
    (["--set", "host=x"], "'libpq.host'"),
    (["--set", "Bad-Key=x"], "'libpq.Bad-Key'"),
    (["--sslmode", "disable"], "key 'sslmode'"),
    (["--region", "eu-west-1"], "key 'region'"),
    (["--port", "0"], "key 'port'"),
    (["--dbname", "a\nb"], "key 'dbname'"),
]


@pytest.mark.parametrize(("args", "needle"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_exit_2_and_nothing_written(cli: Cli, isolated_env: Path, args: list[str], needle: str) -> None:
    cli.static_keys()
    code, out, err = add(cli, "prod", *args)
    assert code == 2 and out == "" and err.startswith("pgiam: error: ") and err.count("\n") == 1, err
    assert needle in err
    assert sorted(p.name for p in isolated_env.iterdir()) == []


@pytest.mark.parametrize(("name", "host"), [("pr od", HOST), ("a/b", HOST), ("prod", "10.0.0.1"),
                                            ("prod", "db.example.com")])
def test_bad_name_or_host_leaves_an_existing_config_alone(cli: Cli, isolated_env: Path, name: str,
                                                          host: str) -> None:
    cli.static_keys()
    assert add(cli, "keep")[0] == 0
    snapshot = {p: p.read_bytes() for p in [cfg_path(isolated_env), isolated_env / ".pgpass",
                                            isolated_env / ".pg_service.conf"]}
    code, _, err = add(cli, name, host=host)
    assert code == 2 and err.count("\n") == 1
    assert {p: p.read_bytes() for p in snapshot} == snapshot


def test_foreign_stanza_needs_force_and_comes_back_on_remove(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    svc = isolated_env / ".pg_service.conf"
    svc.write_text("[prod]\nhost=mine\n")
    code, out, err = add(cli, "prod")
    assert code == 2 and "--force" in err and svc.read_text() == "[prod]\nhost=mine\n"
    assert out == "" and not cfg_path(isolated_env).exists() and not (isolated_env / ".pgpass").exists()
    code, _, err = add(cli, "prod", "--force")
    assert code == 0, err
    assert "host=mine" not in svc.read_text()
    assert cli("remove", "prod").code == 0
    assert svc.read_text() == "[prod]\nhost=mine\n"


def test_credential_failure_saves_nothing_exit_1(cli: Cli, isolated_env: Path) -> None:
    code, _, err = add(cli, "prod", "--profile", "nosuch")
    assert code == 1 and "nosuch" in err and "nothing was saved" in err
    assert not cfg_path(isolated_env).exists()
    assert not (isolated_env / ".pgpass").exists()
