"""`pgiam refresh [NAME ...] [--force]` through the real CLI: exit codes, scope, no-op, renewal, takeover."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pgiam.aws import rds
from pgiam.aws.tokeninfo import decode, iso
from pgiam.config.model import build_services
from pgiam.flow import state
from pgiam.flow.desired import pgpass_key
from pgiam.libpq import pgpass
from tests.conftest import TEST_KEY_ID, TEST_SECRET, Cli
from tests.helpers_fs import claim, temp_files

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"
PAST = 1_000_000_000  # an mtime far in the past


def config(home: Path, *services: tuple[str, str], extra: str = "") -> Path:
    path = home / ".config" / "pgiam" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f'[services.{n}]\nhost = "{HOST}"\nuser = "{u}"\n{extra}\n' for n, u in services))
    return path


def files(home: Path) -> dict[str, Path]:
    return {"pgpass": home / ".pgpass", "services": home / ".pg_service.conf",
            "state": home / ".local" / "state" / "pgiam" / "state.json",
            "config": home / ".config" / "pgiam" / "config.toml"}


def tokens(home: Path) -> dict[str, str]:
    """user -> token of pgiam's lines for HOST."""
    out = {}
    for line in (home / ".pgpass").read_text().splitlines():
        if line.startswith(HOST):
            fields = line.split(":")
            out[fields[3]] = line.split(":", 4)[4].replace("\\:", ":")
    return out


def test_all_refreshed_exit_0(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    config(isolated_env, ("a", "alice"), ("b", "bob"))
    r = cli("refresh")
    assert r.code == 0 and r.err == ""
    assert [ln.split(" (")[0] for ln in r.out.splitlines()] == ["a: refreshed", "b: refreshed"]
    assert set(tokens(isolated_env)) == {"alice", "bob"}
    text = (isolated_env / ".pg_service.conf").read_text()
    assert "[a]\n" in text and "[b]\n" in text


def test_one_failing_service_exit_1_others_written(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    path = config(isolated_env, ("a", "alice"), ("c", "carol"))
    with path.open("a") as f:
        f.write(f'[services.b]\nhost = "{HOST}"\nuser = "bob"\nprofile = "no-such-profile"\n')
    r = cli("refresh")
    assert r.code == 1
    assert r.err.count("\n") == 1 and r.err.startswith("pgiam: error: b: ") and "no-such-profile" in r.err
    assert set(tokens(isolated_env)) == {"alice", "carol"}
    text = (isolated_env / ".pg_service.conf").read_text()
    assert "[a]\n" in text and "[c]\n" in text and "[b]" not in text
    saved = state.load(files(isolated_env)["state"]).services
    assert saved["b"].last_error is not None and "no-such-profile" in saved["b"].last_error
    assert saved["a"].last_error is None and saved["a"].token_sha256 == state.token_hash(tokens(isolated_env)["alice"])


def test_refresh_name_touches_only_that_service(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    config(isolated_env, ("a", "alice"), ("b", "bob"))
    r = cli("refresh", "b")
    assert r.code == 0 and r.out.startswith("b: refreshed") and "a:" not in r.out
    assert set(tokens(isolated_env)) == {"bob"}
    text = (isolated_env / ".pg_service.conf").read_text()
    assert "[b]\n" in text and "[a]" not in text
    assert set(state.load(files(isolated_env)["state"]).services) == {"b"}


def test_unknown_name_exit_2_nothing_written(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    config(isolated_env, ("a", "alice"))
    r = cli("refresh", "a", "nosuch")
    assert r.code == 2 and r.err.count("\n") == 1
    assert "no service 'nosuch'" in r.err and "(known: a)" in r.err
    assert not (isolated_env / ".pgpass").exists() and not (isolated_env / ".pg_service.conf").exists()


def test_no_services_is_a_warning_exit_0(cli: Cli) -> None:
    r = cli("refresh")
    assert r.code == 0 and r.err.startswith("pgiam: warning: no services in ")


def test_noop_leaves_every_file_and_mtime_alone(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    config(isolated_env, ("a", "alice"), ("b", "bob"))
    assert cli("refresh").code == 0
    before = {}
    for name, p in files(isolated_env).items():
        os.utime(p, (PAST, PAST))
        before[name] = (p.read_bytes(), p.stat().st_mtime, p.stat().st_ino)
    r = cli("refresh")
    assert (r.code, r.out, r.err) == (0, "", "")
    after = {name: (p.read_bytes(), p.stat().st_mtime, p.stat().st_ino) for name, p in files(isolated_env).items()}
    assert after == before
    assert temp_files(isolated_env) == [] and temp_files(files(isolated_env)["state"].parent) == []


def _plant(home: Path, user: str, age: int) -> str:
    """Replace the service's token with one signed `age` seconds ago; returns it."""
    svc = build_services([(Path("c"), {"services": {"x": {"host": HOST, "user": user}}})])["x"]
    signed = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=age)
    token = rds.sign(host=HOST, port=5432, region="us-west-2", user=user, access_key=TEST_KEY_ID,
                     secret_key=TEST_SECRET, session_token=None, now=signed)
    p = home / ".pgpass"
    p.write_bytes(pgpass.upsert(p.read_bytes(), pgpass_key(svc, user), token))
    claim(files(home)["state"], token)
    return token


def test_force_renews_fresh_tokens(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    config(isolated_env, ("a", "alice"))
    assert cli("refresh").code == 0
    old = _plant(isolated_env, "alice", 120)  # still fresh: 780 s left
    assert cli("refresh").out == "" and tokens(isolated_env)["alice"] == old
    r = cli("refresh", "--force")
    assert r.code == 0 and r.out.startswith("a: refreshed")
    new = tokens(isolated_env)["alice"]
    old_info, new_info = decode(old), decode(new)
    assert old_info is not None and new_info is not None and new_info.signed_at > old_info.signed_at


def test_expiring_and_expired_tokens_renewed_without_force(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    config(isolated_env, ("a", "alice"), ("b", "bob"))
    assert cli("refresh").code == 0
    old_a, old_b = _plant(isolated_env, "alice", 700), _plant(isolated_env, "bob", 3600)
    r = cli("refresh")
    assert r.code == 0 and [ln.split(" (")[0] for ln in r.out.splitlines()] == ["a: refreshed", "b: refreshed"]
    assert tokens(isolated_env)["alice"] != old_a and tokens(isolated_env)["bob"] != old_b


def test_recorded_credential_expiry_caps_the_token(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    config(isolated_env, ("a", "alice"))
    assert cli("refresh").code == 0
    token = tokens(isolated_env)["alice"]
    assert cli("refresh").out == ""  # fresh
    soon = datetime.now(timezone.utc) + timedelta(seconds=60)  # the credentials die soon
    state.update(files(isolated_env)["state"], {"a": state.ServiceState(
        token_sha256=state.token_hash(token), expires_at=iso(soon))})
    r = cli("refresh")
    assert r.code == 0 and r.out.startswith("a: refreshed"), r
    recorded = state.load(files(isolated_env)["state"]).services["a"].expires_at
    assert recorded is not None and recorded > iso(soon + timedelta(seconds=600))  # the new token's own expiry


def test_token_for_another_port_is_replaced(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    config(isolated_env, ("a", "alice"), extra="port = 6543")
    assert cli("refresh").code == 0
    info = decode(tokens(isolated_env)["alice"])
    assert info is not None and info.host == f"{HOST}:6543"


FOREIGN = "# my own\n[a]\nhost=elsewhere.example.com\nport=5432\n"


def test_foreign_stanza_refused_unless_force(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    config(isolated_env, ("a", "alice"), ("b", "bob"))
    svcfile = isolated_env / ".pg_service.conf"
    svcfile.write_text(FOREIGN)
    r = cli("refresh")
    assert r.code == 1
    assert r.err.count("\n") == 1 and "[a] in the service file was not written by pgiam" in r.err
    assert "--force" in r.err
    assert set(tokens(isolated_env)) == {"bob"}  # the other service is still refreshed
    text = svcfile.read_text()
    assert text.startswith(FOREIGN) and "[b]\n" in text
    assert cli("refresh", "a").code == 1 and svcfile.read_text() == text

    r = cli("refresh", "--force", "a")
    assert r.code == 0, r.err
    text = svcfile.read_text()
    assert "elsewhere.example.com" not in text and f"host={HOST}" in text and "managed by pgiam" in text
    assert text.startswith("# my own\n") and "[b]\n" in text
    assert set(tokens(isolated_env)) == {"alice", "bob"}


def test_invalid_service_is_exit_1_and_nothing_of_it_written(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    config(isolated_env, ("a", "alice"), extra='sslmode = "prefer"')
    r = cli("refresh")
    assert r.code == 1 and "key 'sslmode'" in r.err and r.err.count("\n") == 1
    assert not (isolated_env / ".pgpass").exists()
