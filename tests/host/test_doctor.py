"""Pure doctor checks: each verdict from plain inputs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pgiam.config.model import Service
from pgiam.host import doctor
from pgiam.libpq import pgpass
from tests.ca_helpers import bundle

HOST = "mydb.abc123.us-east-1.rds.amazonaws.com"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def svc(**kw: object) -> Service:
    base: dict[str, object] = {
        "name": "prod",
        "host": HOST,
        "user": "alice",
        "dbname": "alice",
        "region": "us-east-1",
    }
    base.update(kw)
    return Service(**base)  # type: ignore[arg-type]


def test_pgpass_file() -> None:
    assert doctor.pgpass_file("/h/.pgpass", doctor.FileInfo(True, mode=0o600)).status == "ok"
    c = doctor.pgpass_file("/h/.pgpass", doctor.FileInfo(True, mode=0o640))
    assert c.status == "fail" and "0640" in c.verdict and "chmod 600" in c.fix
    assert doctor.pgpass_file("/h/.pgpass", doctor.FileInfo(True, regular=False)).status == "fail"
    assert doctor.pgpass_file("/h/.pgpass", doctor.FileInfo(False)).status == "warn"


def test_pgpass_entry_shadowed_by_an_earlier_wildcard() -> None:
    key = pgpass.Key(HOST, "5432", "alice", "alice")
    ours = pgpass.format_line(key, "tok:en")
    assert doctor.pgpass_entry(svc(), "/p", ours, key).status == "ok"
    shadow = b"*:5432:*:alice:oldpassword\n" + ours
    c = doctor.pgpass_entry(svc(), "/p", shadow, key)
    assert (
        c.status == "fail"
        and "line 1" in c.verdict
        and "line 2" in c.verdict
        and "oldpassword" not in c.verdict
    )
    assert doctor.pgpass_entry(svc(), "/p", b"", key).status == "fail"


def test_password_sources() -> None:
    assert doctor.password_env({"PGPASSWORD": "x"}).status == "warn"
    assert doctor.password_env({}).status == "ok"
    c = doctor.stanza(svc(), "/s", [("host", HOST), ("password", "secret")], True)
    assert c.status == "fail" and "password=" in c.verdict and "secret" not in c.verdict
    assert doctor.stanza(svc(), "/s", None, None).status == "fail"
    assert doctor.stanza(svc(), "/s", [("host", HOST)], False).status == "warn"


def test_libpq_env() -> None:
    assert doctor.libpq_env({}, "/h/.pgpass", "/h/.svc", False).status == "ok"
    c = doctor.libpq_env({"PGSERVICEFILE": "/other"}, "/h/.pgpass", "/h/.svc", False)
    assert c.status == "fail" and "/other" in c.verdict
    c = doctor.libpq_env({"PGPASSFILE": "/other"}, "/h/.pgpass", "/h/.svc", False)
    assert c.status == "fail"
    c = doctor.libpq_env({"PGSYSCONFDIR": "/etc/pg"}, "/h/.pgpass", "/h/.svc", False)
    assert c.status == "ok" and "PGSYSCONFDIR=/etc/pg" in c.verdict


def test_service_file_lines_depend_on_libpq() -> None:
    long = b"[a]\nhost=" + b"x" * 300 + b"\n"
    assert doctor.service_file_lines("/s", long, (15, 4)).status == "ok"
    c = doctor.service_file_lines("/s", long, (13, 2))
    assert c.status == "fail" and "line 2" in c.verdict and "253" in c.verdict
    assert doctor.service_file_lines("/s", long, None).status == "warn"
    dup = b"[a]\nhost=x\n[a]\nhost=y\n"
    assert "repeats" in doctor.service_file_lines("/s", dup, (15, 4)).verdict


@pytest.mark.parametrize(
    ("version", "status"),
    [
        ((15, 4), "ok"),
        ((13, 0), "ok"),
        ((12, 5), "ok"),
        ((12, 4), "fail"),
        ((11, 9), "fail"),
        ((10, 15), "ok"),
        ((9, 620), "ok"),
        ((9, 619), "fail"),
        ((9, 524), "ok"),
        (None, "warn"),
    ],
)
def test_libpq_version_limits(version: tuple[int, int] | None, status: str) -> None:
    assert doctor.libpq_version(version).status == status


def test_libpq_version_features() -> None:
    assert doctor.libpq_version((15, 4), uses_system_root=True).status == "fail"
    assert doctor.libpq_version((16, 1), uses_system_root=True).status == "ok"
    c = doctor.stanza_keys(svc(), [("host", HOST), ("require_auth", "password")], (15, 4))
    assert c is not None and c.status == "fail" and "require_auth" in c.verdict
    assert doctor.stanza_keys(svc(), [("host", HOST)], (15, 4)) is None


def test_tls() -> None:
    assert doctor.sslmode(svc(), "verify-full").status == "ok"
    assert doctor.sslmode(svc(), "require").status == "warn"
    assert doctor.sslrootcert(svc(), "verify-full", "/ca.pem", "/root.crt", bundle(2)).status == "ok"
    c = doctor.sslrootcert(svc(), "verify-full", None, "/h/.postgresql/root.crt", None)
    assert c.status == "fail" and "root.crt" in c.verdict and "pgiam ca install" in c.fix
    c = doctor.sslrootcert(svc(), "verify-full", "/ca.pem", "/root.crt", b"<html>oops</html>")
    assert c.status == "fail" and "HTML" in c.verdict
    assert doctor.sslrootcert(svc(), "require", None, "/root.crt", None).status == "ok"


def test_region_and_cname() -> None:
    assert doctor.region_host(svc()).status == "ok"
    cname = svc(host="db.example.com", signing_host=HOST)
    res = doctor.Resolution("ec2-1-2-3-4.compute-1.amazonaws.com", ("db.example.com", HOST))
    c = doctor.host_endpoint(cname, res)
    assert c.status == "fail" and f"CNAME of {HOST}" in c.verdict and f"--host {HOST}" in c.fix
    other = svc(host="db.example.com", signing_host="other.abc123.us-east-1.rds.amazonaws.com")
    assert "tokens are signed for other" in doctor.host_endpoint(other, res).verdict
    assert doctor.host_endpoint(cname, None).status == "warn"
    assert (
        doctor.host_endpoint(cname, doctor.Resolution("db.example.com", (), "Name not known")).status
        == "warn"
    )
    assert doctor.host_endpoint(svc(), None).status == "ok"


def test_credentials_expiring_before_the_token() -> None:
    assert doctor.credentials(svc(), "env", None, NOW, 900).status == "ok"
    c = doctor.credentials(svc(profile="sso"), "sso", NOW + timedelta(minutes=5), NOW, 900)
    assert c.status == "warn" and "5 min" in c.verdict and "aws sso login --profile sso" in c.fix
    assert doctor.credentials(svc(), "sso", NOW + timedelta(hours=1), NOW, 900).status == "ok"
    assert doctor.credentials(svc(), None, None, NOW, 900, error="boom").status == "fail"


def test_clock_skew() -> None:
    assert doctor.clock_skew("p", NOW, NOW + timedelta(seconds=5)).status == "ok"
    assert doctor.clock_skew("p", NOW, NOW - timedelta(seconds=90)).status == "warn"
    c = doctor.clock_skew("p", NOW + timedelta(minutes=10), NOW)
    assert c.status == "fail" and "600s ahead" in c.verdict


@pytest.mark.parametrize(
    ("stderr", "cause"),
    [
        (
            'psql: error: connection to server at "h" (1.2.3.4), port 5432 failed: '
            'FATAL:  PAM authentication failed for user "alice"\npassword retrieved from file "/h/.pgpass"',
            "refused the token from pgpass",
        ),
        ('FATAL:  PAM authentication failed for user "alice"', "refused the token"),
        ("fe_sendauth: no password supplied", "pgpass not used"),
        ('psql: error: definition of service "x" not found', "did not find the stanza"),
        ('root certificate file "/h/.postgresql/root.crt" does not exist', "CA bundle is missing"),
        ('could not translate host name "db" to address', "DNS"),
        ("Connection refused", "no TCP connection"),
        ("something odd", "something odd"),
    ],
)
def test_explain_connect(stderr: str, cause: str) -> None:
    c = doctor.explain_connect("prod", 2, stderr)
    assert c.status == "fail" and cause in c.verdict
    assert doctor.explain_connect("prod", 0, "").status == "ok"
