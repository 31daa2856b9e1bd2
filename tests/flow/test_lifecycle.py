"""The lifecycle rules through the public CLI: all or nothing, ownership, shared entries, isolation,
interrupted and concurrent verbs, and "fresh" meaning that libpq would log in."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pgiam.aws import rds
from pgiam.libpq import pgpass, servicefile
from tests.conftest import TEST_KEY_ID, TEST_SECRET, Cli
from tests.helpers_fs import claim, temp_files

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"


def cfg_path(home: Path) -> Path:
    return home / ".config" / "pgiam" / "config.toml"


def state_path(home: Path) -> Path:
    return home / ".local" / "state" / "pgiam" / "state.json"


def files(home: Path) -> dict[str, bytes | None]:
    """Every file a verb may touch, as bytes (None when missing)."""
    out: dict[str, bytes | None] = {}
    for p in (cfg_path(home), home / ".pgpass", home / ".pg_service.conf", state_path(home)):
        out[p.name] = p.read_bytes() if p.exists() else None
    return out


def entries(home: Path) -> list[list[str]]:
    """The match fields of every pgpass line for HOST."""
    p = home / ".pgpass"
    if not p.exists():
        return []
    return [ln.split(":")[:4] for ln in p.read_text().splitlines() if ln.startswith(HOST)]


def status(cli: Cli) -> dict[str, dict[str, object]]:
    r = cli("status", "--json")
    return {row["name"]: row for row in json.loads(r.out)}


def add(cli: Cli, name: str, *args: str, user: str = "alice") -> tuple[int, str, str]:
    r = cli("add", name, "--host", HOST, "--user", user, *args)
    return r.code, r.out, r.err


def sign(user: str, at: datetime) -> str:
    return rds.sign(host=HOST, port=5432, region="us-west-2", user=user, access_key=TEST_KEY_ID,
                    secret_key=TEST_SECRET, session_token=None, now=at)


# --------------------------------------------------------------------------- all or nothing


def test_add_refused_by_libpq_leaves_a_working_service_as_it_was(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    cli.env["PGIAM_LIBPQ_VERSION"] = "16.4"
    ca = isolated_env / "ca.pem"
    ca.write_text("not checked here\n")
    assert add(cli, "prod", "--hostaddr", "127.0.0.1", "--local-port", "15432", "--sslrootcert", str(ca))[0] == 0
    before = files(isolated_env)
    code, out, err = add(cli, "prod", "--set", "foo=bar")  # a keyword libpq does not know
    assert code == 2 and out == "" and err.count("\n") == 1 and "foo" in err, err
    assert files(isolated_env) == before
    assert cli("refresh").code == 0 and files(isolated_env) == before  # still fresh, nothing to do


def test_add_with_a_missing_ca_file_is_refused_with_the_fix(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    code, out, err = add(cli, "prod", "--sslrootcert", str(isolated_env / "nope.pem"))
    assert code == 2 and out == "" and "does not exist" in err and "pgiam ca install" in err
    assert files(isolated_env) == dict.fromkeys(files(isolated_env))  # nothing at all was written


def test_a_killed_remove_is_finished_by_refresh_or_by_remove_again(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    assert add(cli, "a")[0] == 0 and add(cli, "b", user="bob")[0] == 0
    env = cli.environ({"PGIAM_TEST_WRITE_DELAY": "0.6"})
    proc = subprocess.Popen([sys.executable, "-m", "pgiam", "remove", "b"], env=env, cwd=str(isolated_env),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while b"[services.b]" in cfg_path(isolated_env).read_bytes() and time.monotonic() < deadline:
        time.sleep(0.02)  # wait until the config is written: pgpass and the service file are next
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert b"[services.b]" not in cfg_path(isolated_env).read_bytes()
    assert [e[3] for e in entries(isolated_env) if e[3] == "bob"] == ["bob"]  # the leftover
    for verb in (["remove", "b"], ["refresh"]):
        snapshot = files(isolated_env)
        r = cli(*verb)
        assert r.code == 0, r.err
        assert [e[3] for e in entries(isolated_env)] == ["alice"]
        assert "[b]" not in (isolated_env / ".pg_service.conf").read_text()
        assert temp_files(isolated_env) == []
        (isolated_env / ".pgpass").write_bytes(snapshot[".pgpass"] or b"")  # put the leftovers back
        (isolated_env / ".pg_service.conf").write_bytes(snapshot[".pg_service.conf"] or b"")
        state_path(isolated_env).write_bytes(snapshot["state.json"] or b"")
    r = cli("remove", "b")
    assert r.code == 0
    r = cli("remove", "b")
    assert r.code == 2 and "no service 'b'" in r.err


def test_remove_during_a_slow_refresh_is_not_undone(cli: Cli, isolated_env: Path, tmp_path: Path) -> None:
    """A refresh that signs slowly (a credential_process taking 2 s) while `remove b` runs must not put
    b's line and stanza back."""
    slow = tmp_path / "slow-creds"
    creds = json.dumps({"Version": 1, "AccessKeyId": TEST_KEY_ID, "SecretAccessKey": TEST_SECRET})
    go_slow = tmp_path / "go-slow"  # (the adds sign at once; only the refresh is slow)
    slow.write_text(f"#!/bin/sh\n[ -e {go_slow} ] && sleep 2\nprintf '%s' '{creds}'\n")
    slow.chmod(0o755)
    aws = isolated_env / ".aws" / "config"
    aws.parent.mkdir()
    aws.write_text(f"[profile slow]\ncredential_process = {slow}\nregion = us-west-2\n")
    assert add(cli, "a", "--profile", "slow")[0] == 0
    assert add(cli, "b", "--profile", "slow", user="bob")[0] == 0
    go_slow.touch()
    refresh = subprocess.Popen([sys.executable, "-m", "pgiam", "refresh", "--force"], env=cli.environ(),
                               cwd=str(isolated_env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.8)  # the refresh is now signing
    assert cli("remove", "b").code == 0
    _, err = refresh.communicate(timeout=60)
    assert refresh.returncode == 0, err
    assert [e[3] for e in entries(isolated_env)] == ["alice"]
    assert "[b]" not in (isolated_env / ".pg_service.conf").read_text()
    assert "[services.b]" not in cfg_path(isolated_env).read_text()
    r = cli("remove", "b")
    assert r.code == 2 and "no service 'b'" in r.err


# --------------------------------------------------------------------------- ownership


def test_a_shared_entry_stays_while_any_service_needs_it(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    assert add(cli, "main")[0] == 0
    assert add(cli, "reporting", "--set", "application_name=reports")[0] == 0
    assert entries(isolated_env) == [[HOST, "5432", "alice", "alice"]]  # one entry for both
    assert {n: r["state"] for n, r in status(cli).items()} == {"main": "fresh", "reporting": "fresh"}
    assert cli("remove", "reporting").code == 0
    assert entries(isolated_env) == [[HOST, "5432", "alice", "alice"]]
    assert status(cli)["main"]["state"] == "fresh"
    assert cli("refresh").code == 0
    assert cli("remove", "main").code == 0
    assert not (isolated_env / ".pgpass").exists()


def test_services_sharing_an_entry_must_share_what_signs_it(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    assert add(cli, "main")[0] == 0
    before = files(isolated_env)
    code, _, err = add(cli, "other", "--profile", "nosuch", "--set", "application_name=x")
    assert code == 2 and "main" in err and "signs it differently" in err, err
    assert files(isolated_env) == before
    # written by hand into the config, the conflict fails both services: neither is "fresh" on the other's token
    with cfg_path(isolated_env).open("a") as f:
        f.write(f'\n[services.other]\nhost = "{HOST}"\nuser = "alice"\nprofile = "nosuch"\n')
    rows = status(cli)
    assert rows["other"]["state"] == "error" and "main" in str(rows["other"]["error"])


def test_a_users_line_is_never_taken_without_force_and_comes_back(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    mine = f"# mine\n{HOST}:5432:alice:alice:my-own-password\r\nother:5432:*:*:x\n".encode()
    p = isolated_env / ".pgpass"
    p.write_bytes(mine)
    p.chmod(0o600)
    code, _, err = add(cli, "prod")
    assert code == 2 and "not written by pgiam" in err and "--force" in err
    assert p.read_bytes() == mine and not cfg_path(isolated_env).exists()
    assert add(cli, "prod", "--force")[0] == 0
    assert b"my-own-password" not in p.read_bytes()
    assert cli("refresh", "--force").code == 0  # renewing keeps what was displaced on record
    assert cli("remove", "prod").code == 0
    assert p.read_bytes() == mine


def test_refresh_never_takes_a_users_line(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    assert add(cli, "prod")[0] == 0
    p = isolated_env / ".pgpass"
    text = p.read_text()
    p.write_text(text.split(":", 4)[0] + ":5432:alice:alice:typed-by-hand\n")
    r = cli("refresh")
    assert r.code == 1 and "not written by pgiam" in r.err
    assert p.read_text().endswith("typed-by-hand\n")
    assert status(cli)["prod"]["state"] == "error"


# --------------------------------------------------------------------------- isolation


def test_one_broken_service_never_stops_the_others(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    assert add(cli, "good")[0] == 0
    assert add(cli, "victim", user="bob")[0] == 0
    cfg = cfg_path(isolated_env)
    cfg.write_text(cfg.read_text().replace('[services.victim]\n', '[services.victim]\nsslmod = "require"\n'))
    p = isolated_env / ".pgpass"
    p.write_text("")  # everything needs renewing
    r = cli("refresh")
    assert r.code == 1 and r.err.count("\n") == 1 and "victim" in r.err and "sslmod" in r.err
    assert [e[3] for e in entries(isolated_env)] == ["alice"]
    rows = status(cli)
    assert rows["good"]["state"] == "fresh" and rows["victim"]["state"] == "error"
    assert "sslmod" in str(rows["victim"]["error"])
    doctor = cli("doctor", "--json")
    assert any(c["check"] == "victim: config" and c["status"] == "fail" for c in json.loads(doctor.out))
    assert cli("env", "good").code == 0
    assert cli("exec", "good", "--", "true").code == 0
    assert cli("env", "victim").code == 2
    assert cli("remove", "victim").code == 0
    assert "[services.victim]" not in cfg.read_text()
    assert "[victim]" not in (isolated_env / ".pg_service.conf").read_text()
    assert cli("refresh").code == 0


def test_a_file_that_cannot_be_parsed_is_exit_2_everywhere(cli: Cli, isolated_env: Path) -> None:
    cfg = cfg_path(isolated_env)
    cfg.parent.mkdir(parents=True)
    cfg.write_text("[services.a\nhost = 1\n")
    for verb in (["refresh"], ["status"], ["doctor"]):
        r = cli(*verb)
        assert r.code == 2 and r.err.count("\n") == 1 and "invalid TOML" in r.err, (verb, r.err)


# --------------------------------------------------------------------------- fresh means usable


def test_a_token_dated_in_the_future_is_renewed(cli: Cli, isolated_env: Path) -> None:
    """Signed while the clock ran an hour ahead (then NTP stepped it back): the server refuses it."""
    cli.static_keys()
    assert add(cli, "prod")[0] == 0
    ahead = sign("alice", datetime.now(timezone.utc) + timedelta(hours=1))
    p = isolated_env / ".pgpass"
    p.write_bytes(pgpass.upsert(p.read_bytes(), pgpass.Key(HOST, "5432", "alice", "alice"), ahead))
    claim(state_path(isolated_env), ahead)
    assert status(cli)["prod"]["state"] == "expired"
    r = cli("refresh")
    assert r.code == 0 and "prod: refreshed" in r.out
    assert ahead.replace(":", "\\:") not in p.read_text()


def test_a_line_the_user_put_above_pgiams_is_repaired(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    assert add(cli, "prod")[0] == 0
    p = isolated_env / ".pgpass"
    p.write_bytes(b"*:*:*:alice:old-password\n" + p.read_bytes())
    assert status(cli)["prod"]["state"] == "expired"
    assert cli("refresh").code == 0
    data = p.read_bytes()
    found = pgpass.lookup(data, HOST, "5432", "alice", "alice")
    assert found is not None and found[1].startswith(f"{HOST}:5432/?")  # libpq now takes pgiam's token
    assert b"*:*:*:alice:old-password\n" in data  # the user's line is kept, after pgiam's


def test_a_new_stanza_goes_where_libpq_reaches_it(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    sf = isolated_env / ".pg_service.conf"
    original = b"[legacy]\nhost=x\noptions=" + b"o" * 1100 + b"\n"
    sf.write_bytes(original)
    assert add(cli, "prod")[0] == 0
    text = sf.read_bytes()
    assert text.endswith(original) and servicefile.get(text, "prod") is not None
    span = servicefile.section_span(text, "prod")
    assert span is not None and all(no > span[1] for no, n in servicefile.long_lines(text) if n > 1021)


# --------------------------------------------------------------------------- modes


def test_a_too_open_pgpass_is_fixed_on_a_noop_run(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    assert add(cli, "prod")[0] == 0
    p = isolated_env / ".pgpass"
    p.chmod(0o644)
    r = cli("refresh")
    assert r.code == 0 and stat.S_IMODE(p.stat().st_mode) == 0o600


def test_state_records_ownership_not_secrets(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    assert add(cli, "prod")[0] == 0
    doc = json.loads(state_path(isolated_env).read_text())
    token = (isolated_env / ".pgpass").read_text().split(":", 4)[4]
    assert "X-Amz" not in json.dumps(doc) and token.strip() not in json.dumps(doc)
    (rec,) = doc["entries"][os.path.realpath(isolated_env / ".pgpass")].values()
    assert rec["owners"] == [[os.path.realpath(cfg_path(isolated_env)), "prod"]] and len(rec["hashes"]) == 1
    assert stat.S_IMODE(state_path(isolated_env).stat().st_mode) == 0o600


def test_other_configs_lines_are_left_alone(cli: Cli, isolated_env: Path, tmp_path: Path) -> None:
    """Two configs writing into the same pgpass and service file: reconciling one never removes what
    the other wrote."""
    cli.static_keys()
    other = tmp_path / "other.toml"
    assert add(cli, "mine")[0] == 0
    assert cli("--config", str(other), "add", "theirs", "--host", HOST, "--user", "bob").code == 0
    assert cli("refresh", "--force").code == 0
    assert cli("remove", "mine").code == 0
    assert [e[3] for e in entries(isolated_env)] == ["bob"]
    assert "[theirs]" in (isolated_env / ".pg_service.conf").read_text()


@pytest.fixture(autouse=True)
def _no_real_libpq_surprises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGIAM_LIBPQ_VERSION", "16.4")
