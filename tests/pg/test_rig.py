"""Proof that the rig behaves like RDS with IAM auth, and that its verifier is strict."""

from __future__ import annotations

import calendar
import functools
import hashlib
import json
import os
import secrets
import shutil
import socket
import string
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.pg import ldap_verifier as ldap
from tests.pg.rig import Rig
from tests.pg.sigv4_check import TokenRejected, canonical_query, presign, split_token, verify_presigned

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"
ENDPOINT = f"{HOST}:5432"
AKID = "AKIDRIGTEST0000001"
SECRET = "rig-secret-0123456789"
LDAP_FAIL = "LDAP authentication failed"


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("AWS_", "PG")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    monkeypatch.setenv("PGSYSCONFDIR", str(tmp_path))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@functools.cache
def _rds_client(akid: str, secret: str, session_token: str | None, region: str) -> Any:
    import botocore.session

    return botocore.session.Session().create_client(
        "rds",
        region_name=region,
        aws_access_key_id=akid,
        aws_secret_access_key=secret,
        aws_session_token=session_token,
    )


def botocore_token(
    user: str,
    *,
    akid: str = AKID,
    secret: str = SECRET,
    session_token: str | None = None,
    host: str = HOST,
    port: int = 5432,
    region: str = "us-west-2",
) -> str:
    client = _rds_client(akid, secret, session_token, region)
    token: str = client.generate_db_auth_token(DBHostname=host, Port=port, DBUsername=user, Region=region)
    return token


def our_token(user: str, **kw: Any) -> str:
    args: dict[str, Any] = {
        "host": ENDPOINT,
        "service": "rds-db",
        "region": "us-west-2",
        "access_key_id": AKID,
        "secret": SECRET,
        "params": {"Action": "connect", "DBUser": user},
    }
    args.update(kw)
    return presign(**args)


def lookup(akid: str) -> tuple[str, str | None] | None:
    return {AKID: (SECRET, None), "ASIATEMP": ("temp-secret", "the-session-token")}.get(akid)


def check(token: str, user: str = "alice", **kw: Any) -> None:
    args: dict[str, Any] = {
        "service": "rds-db",
        "expected_host": ENDPOINT,
        "action": "connect",
        "lookup": lookup,
        "now": time.time(),
        "region": "us-west-2",
        "expected_params": {"DBUser": user},
    }
    args.update(kw)
    verify_presigned(token, **args)


def long_session_token(n: int = 1500) -> str:
    alphabet = string.ascii_letters + string.digits + "+/="
    return "".join(secrets.choice(alphabet) for _ in range(n))


# ------------------------------------------------------------------ the SigV4 checker (no server)


def test_botocore_token_verifies_and_our_signer_reproduces_it_exactly() -> None:
    token = botocore_token("we:ird\\us er é*")
    check(token, "we:ird\\us er é*")
    host, params = split_token(token)
    signed_at = calendar.timegm(time.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
    again = our_token(params["DBUser"], now=signed_at)
    assert split_token(again) == (host, params)


def test_aws_cli_token_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    aws = shutil.which("aws", path=os.path.dirname(sys.executable)) or shutil.which("aws")
    assert aws, "the aws CLI (awscli) must be installed in the test venv"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIATEMP")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "temp-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "the-session-token")
    out = subprocess.run(
        [aws, "rds", "generate-db-auth-token", "--hostname", HOST, "--port", "5432",
         "--username", "bob", "--region", "us-west-2"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()
    check(out, "bob")
    with pytest.raises(TokenRejected, match="DBUser mismatch"):
        check(out, "alice")


@pytest.mark.parametrize(
    ("token_kw", "check_kw", "reason"),
    [
        ({"secret": "wrong"}, {}, "signature does not match"),
        ({"access_key_id": "AKIDUNKNOWN"}, {}, "unknown access key id"),
        ({"params": {"Action": "connect", "DBUser": "bob"}}, {}, "DBUser mismatch"),
        ({"params": {"Action": "connect"}}, {}, "DBUser mismatch"),
        ({"params": {"Action": "DbConnect", "DBUser": "alice"}}, {}, "wrong Action"),
        ({"host": f"{HOST}:5433"}, {}, "wrong host"),
        ({"host": HOST}, {}, "wrong host"),
        ({"region": "us-east-1"}, {}, "wrong region"),
        ({"service": "dsql"}, {}, "wrong service"),
        ({"expires_in": 901}, {}, "X-Amz-Expires"),
        ({"expires_in": 0}, {}, "X-Amz-Expires"),
        ({"now_offset": -901}, {}, "expired"),
        ({"now_offset": 400}, {}, "not yet valid"),
        ({"session_token": ""}, {}, "empty X-Amz-Security-Token"),
        ({"session_token": "x"}, {}, "unexpected X-Amz-Security-Token"),
        ({"access_key_id": "ASIATEMP", "secret": "temp-secret"}, {}, "missing X-Amz-Security-Token"),
        ({"access_key_id": "ASIATEMP", "secret": "temp-secret", "session_token": "other"}, {},
         "X-Amz-Security-Token mismatch"),
        ({"access_key_id": "ASIATEMP", "secret": "temp-secret", "session_token": ""}, {},
         "empty X-Amz-Security-Token"),
    ],
)
def test_checker_rejects(token_kw: dict[str, Any], check_kw: dict[str, Any], reason: str) -> None:
    token_kw = dict(token_kw)
    if "now_offset" in token_kw:  # relative to when the test runs, not when it was collected
        token_kw["now"] = time.time() + token_kw.pop("now_offset")
    with pytest.raises(TokenRejected, match=reason):
        check(our_token("alice", **token_kw), **check_kw)


def test_checker_accepts_the_controls() -> None:
    check(our_token("alice"))
    check(our_token("alice", now=time.time() - 880))
    check(our_token("alice", now=time.time() + 290))
    check(our_token("alice", access_key_id="ASIATEMP", secret="temp-secret",
                    session_token="the-session-token"))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t.replace("Action=connect", "Action=connect&Action=connect"),
        lambda t: t.replace("DBUser=alice", "DBUser=alicf"),
        lambda t: t + "&Extra=1",
        lambda t: t.replace("/?", "?"),
        lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"),
        lambda t: t.replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=host%3Bx-amz-date"),
    ],
)
def test_checker_rejects_tampering(mangle: Any) -> None:
    with pytest.raises(TokenRejected):
        check(mangle(our_token("alice")))


def test_checker_is_generic_over_service_for_dsql_tokens() -> None:
    host = "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws"
    token = presign(host=host, service="dsql", region="us-east-1", access_key_id=AKID, secret=SECRET,
                    params={"Action": "DbConnectAdmin"}, expires_in=3600)
    info = verify_presigned(token, service="dsql", expected_host=host, action="DbConnectAdmin",
                            lookup=lookup, now=time.time(), region="us-east-1", max_expires=604800)
    assert (info.service, info.region, info.expires_in) == ("dsql", "us-east-1", 3600)
    with pytest.raises(TokenRejected, match="wrong Action"):
        verify_presigned(token, service="dsql", expected_host=host, action="DbConnect",
                         lookup=lookup, now=time.time(), max_expires=604800)


# ------------------------------------------------------------------ the LDAP responder (no server)


@pytest.mark.parametrize("n", [0, 1, 127, 128, 255, 256, 2500, 70000])
def test_ber_lengths_round_trip(n: int) -> None:
    value = bytes(n)
    tag, decoded, end = ldap.decode_tlv(ldap.encode_tlv(0x04, value), 0)
    assert (tag, decoded, end) == (0x04, value, len(ldap.encode_tlv(0x04, value)))


def _bind_request(message_id: int, dn: bytes, password: bytes) -> bytes:
    body = ldap.encode_integer(0x02, 3) + ldap.encode_tlv(0x04, dn) + ldap.encode_tlv(0x80, password)
    return ldap.encode_tlv(0x30, ldap.encode_integer(0x02, message_id) + ldap.encode_tlv(0x60, body))


def test_ldap_responder_answers_binds_over_tcp() -> None:
    seen: list[tuple[bytes, bytes]] = []

    def decide(dn: bytes, password: bytes) -> tuple[bool, str]:
        seen.append((dn, password))
        return password == b"x" * 3000, "because"

    with ldap.LdapBindVerifier(decide) as server, socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(_bind_request(1, b"uid=a,dc=iam,dc=test", b"x" * 3000))
        ok = ldap.read_message(s)
        s.sendall(_bind_request(300, b"uid=a,dc=iam,dc=test", b"y"))
        bad = ldap.read_message(s)
        s.sendall(ldap.encode_tlv(0x30, ldap.encode_integer(0x02, 301) + b"\x42\x00"))  # unbind
        assert s.recv(1) == b""  # the server closes after unbind
    assert ok == ldap.bind_response(1, 0, "because")
    assert bad == ldap.bind_response(300, 49, "because")
    assert seen == [(b"uid=a,dc=iam,dc=test", b"x" * 3000), (b"uid=a,dc=iam,dc=test", b"y")]


def test_strip_dn() -> None:
    assert ldap.strip_dn("uid=we:ird\\us er,dc=iam,dc=test", "uid=", ",dc=iam,dc=test") == "we:ird\\us er"
    assert ldap.strip_dn("cn=x,dc=iam,dc=test", "uid=", ",dc=iam,dc=test") is None


# ------------------------------------------------------------------ end to end with PostgreSQL


def _accepted(rig: Rig) -> list[bool]:
    return [e.accepted for e in rig.verifier_events()]


@pytest.mark.pg
def test_botocore_token_logs_in_with_psql(rig: Rig) -> None:
    rig.register_credentials(AKID, SECRET)
    rig.create_role("alice")
    token = botocore_token("alice")
    proc = rig.psql("alice", "select current_user", password=token)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "alice\n"
    [event] = rig.verifier_events()
    assert (event.role, event.accepted, event.reason) == ("alice", True, "ok")
    assert event.password_sha256 == hashlib.sha256(token.encode()).hexdigest()
    log = Path(rig.events_file).read_text(encoding="utf-8")
    assert token not in log and SECRET not in log
    assert json.loads(log.splitlines()[-1])["password_sha256"] == event.password_sha256


@pytest.mark.pg
def test_aws_cli_token_logs_in_with_psql(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    aws = shutil.which("aws", path=os.path.dirname(sys.executable)) or shutil.which("aws")
    assert aws
    rig.register_credentials(AKID, SECRET)
    rig.create_role("carol")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET)
    token = subprocess.run(
        [aws, "rds", "generate-db-auth-token", "--hostname", rig.host, "--port", str(rig.signed_port),
         "--username", "carol", "--region", rig.region],
        capture_output=True, text=True, check=True, timeout=60, env=env,
    ).stdout.strip()
    proc = rig.psql("carol", "select current_user", password=token)
    assert (proc.returncode, proc.stdout) == (0, "carol\n"), proc.stderr


@pytest.mark.pg
@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: botocore_token("alice", secret="not-the-secret"), "signature does not match"),
        (lambda: botocore_token("bob"), "DBUser mismatch"),
        (lambda: botocore_token("alice", port=6543), "wrong host"),
        (lambda: botocore_token("alice", host="db2.abc123xyz.us-west-2.rds.amazonaws.com"), "wrong host"),
        (lambda: botocore_token("alice", region="eu-west-1"), "wrong region"),
        (lambda: botocore_token("alice", akid="AKIDNOTREGISTERED"), "unknown access key id"),
        (lambda: our_token("alice", now=time.time() - 1000), "expired"),
        (lambda: our_token("alice", session_token=""), "empty X-Amz-Security-Token"),
    ],
)
def test_bad_tokens_are_refused_by_the_server(rig: Rig, make: Any, reason: str) -> None:
    rig.register_credentials(AKID, SECRET)
    rig.create_role("alice")
    rig.create_role("bob")
    proc = rig.psql("alice", "select current_user", password=make())
    assert proc.returncode != 0
    assert LDAP_FAIL in proc.stderr
    [event] = rig.verifier_events()
    assert not event.accepted and reason in event.reason


@pytest.mark.pg
def test_a_valid_botocore_token_expires_on_the_verifier_clock(rig: Rig) -> None:
    rig.register_credentials(AKID, SECRET)
    rig.create_role("alice")
    token = botocore_token("alice")
    rig.clock = lambda: time.time() + 901
    proc = rig.psql("alice", "select 1", password=token)
    assert LDAP_FAIL in proc.stderr
    rig.clock = lambda: time.time() + 850
    assert rig.psql("alice", "select 1", password=token).returncode == 0
    assert [(e.accepted, e.reason) for e in rig.verifier_events()] == [(False, "token expired"), (True, "ok")]


@pytest.mark.pg
def test_plain_tcp_is_refused_before_the_verifier(rig: Rig) -> None:
    rig.register_credentials(AKID, SECRET)
    rig.create_role("alice")
    proc = rig.psql("alice", "select 1", password=botocore_token("alice"), sslmode="disable")
    assert proc.returncode != 0
    assert "no encryption" in proc.stderr
    assert rig.verifier_events() == []


@pytest.mark.pg
def test_verify_full_checks_the_endpoint_name_not_hostaddr(rig: Rig) -> None:
    rig.register_credentials(AKID, SECRET)
    rig.create_role("alice")
    proc = rig.psql("alice", "select 1", password=botocore_token("alice"), host="wrong.example.com")
    assert proc.returncode != 0
    assert "does not match host name" in proc.stderr
    assert rig.verifier_events() == []


@pytest.mark.pg
def test_long_session_token_reaches_the_verifier_whole(rig: Rig) -> None:
    session = long_session_token(1800)
    rig.register_credentials("ASIALONGTOKEN", SECRET, session_token=session)
    rig.create_role("alice")
    token = botocore_token("alice", akid="ASIALONGTOKEN", session_token=session)
    assert len(token) > 2000
    proc = rig.psql("alice", "select current_user", password=token)
    assert (proc.returncode, proc.stdout) == (0, "alice\n"), proc.stderr
    [event] = rig.verifier_events()
    assert event.accepted
    assert event.password_length == len(token)
    assert event.password_sha256 == hashlib.sha256(token.encode()).hexdigest()
    # the same token minus its session token is refused
    host, params = split_token(token)
    del params["X-Amz-Security-Token"]
    stripped = f"{host}/?{canonical_query(params)}&X-Amz-Signature={params['X-Amz-Signature']}"
    assert rig.psql("alice", "select 1", password=stripped).returncode != 0
    assert rig.verifier_events()[-1].reason == "missing X-Amz-Security-Token for temporary credentials"


@pytest.mark.pg
@pytest.mark.parametrize(
    "role", ["we:ird\\us er", "star*name", "ünïcødé ☃ 名前", "quote\"and'apos", "comma,dc=evil", " lead"]
)
def test_odd_role_names_log_in(rig: Rig, role: str) -> None:
    rig.register_credentials(AKID, SECRET)
    rig.create_role(role)
    proc = rig.psql(role, "select current_user", password=botocore_token(role))
    assert (proc.returncode, proc.stdout) == (0, role + "\n"), proc.stderr
    assert [(e.role, e.accepted) for e in rig.verifier_events()] == [(role, True)]


@pytest.mark.pg
def test_secret_lookup_is_pluggable(rig: Rig) -> None:
    rig.create_role("alice")
    asked: list[str] = []

    def from_elsewhere(akid: str) -> tuple[str, str | None] | None:
        asked.append(akid)
        return ("temp-secret", "sts-token") if akid == "ASIAFROMSTS" else None

    token = botocore_token("alice", akid="ASIAFROMSTS", secret="temp-secret", session_token="sts-token")
    assert rig.psql("alice", "select 1", password=token).returncode != 0  # nobody knows the key yet
    rig.secret_lookup = from_elsewhere
    assert rig.psql("alice", "select 1", password=token).returncode == 0
    assert asked == ["ASIAFROMSTS"]
    assert _accepted(rig) == [False, True]


@pytest.mark.pg
def test_create_database_and_connect_to_it(rig: Rig) -> None:
    rig.register_credentials(AKID, SECRET)
    rig.create_role("dana")
    rig.create_database("dana's db", owner="dana")
    proc = rig.psql("dana", "select current_database(), pg_has_role('rds_iam', 'member')",
                    password=botocore_token("dana"), dbname="dana's db")
    assert (proc.returncode, proc.stdout) == (0, "dana's db|t\n"), proc.stderr
    assert rig.admin_psql("select rolsuper from pg_roles where rolname = 'dana'") == "f\n"


@pytest.mark.pg
def test_rig_start_and_stop_leave_nothing_behind() -> None:
    with Rig() as other:
        pid = int(Path(other.data_dir, "postmaster.pid").read_text(encoding="ascii").split()[0])
        assert _running(pid)
        rig_dir = other.dir
        assert other.admin_psql("select 1") == "1\n"
    assert not os.path.exists(rig_dir)
    assert not _running(pid)


def _running(pid: int) -> bool:
    """Alive and not a zombie (a container's PID 1 may never reap the daemonized postmaster)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
