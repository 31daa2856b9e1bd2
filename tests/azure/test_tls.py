"""Azure's TLS default: verify-full against the system CAs — sslrootcert=system on libpq 16+, else the OS
bundle file, else (no bundle found) require with a warning; an explicit sslrootcert always wins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pgiam.config.model import Service
from pgiam.host import doctor_clouds
from pgiam.providers import stanza_overrides
from tests.cloud_stubs import FakeAz
from tests.conftest import Cli

HOST = "mydb.postgres.database.azure.com"


def svc(**kw: object) -> Service:
    return Service(name="a", host=HOST, user="DB Admins", kind="azure", dbname="postgres", **kw)  # type: ignore[arg-type]


def test_libpq_16_uses_the_system_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGIAM_LIBPQ_VERSION", "16.2")
    assert stanza_overrides(svc()) == {"sslrootcert": "system"}
    assert stanza_overrides(svc(jdbc=True)) != {"sslrootcert": "system"}  # pgjdbc has no "system"


def test_older_libpq_uses_the_os_bundle_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("PGIAM_LIBPQ_VERSION", "15.4")
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert stanza_overrides(svc()) == {"sslrootcert": str(bundle)}


def test_explicit_root_or_require_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGIAM_LIBPQ_VERSION", "16.2")
    assert stanza_overrides(svc(sslrootcert="/ca.pem")) == {}
    assert stanza_overrides(svc(sslmode="require")) == {}


def test_no_bundle_anywhere_falls_back_to_require(monkeypatch: pytest.MonkeyPatch) -> None:
    from pgiam.host import system_roots

    monkeypatch.setenv("PGIAM_LIBPQ_VERSION", "14.9")
    monkeypatch.setattr(system_roots, "CANDIDATES", ())
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    assert stanza_overrides(svc()) == {"sslmode": "require"}


def test_doctor_flags_system_root_on_old_libpq() -> None:
    c = doctor_clouds.libpq_needs(svc(), (15, 4), [("sslrootcert", "system")])
    assert c.status == "fail" and "16" in c.verdict
    assert doctor_clouds.libpq_needs(svc(), (16, 1), [("sslrootcert", "system")]).status == "ok"
    assert doctor_clouds.libpq_needs(svc(), (12, 3), []).status == "fail"  # 319-byte pgpass lines


def test_stanza_written_by_add_on_libpq_16(cli: Cli, isolated_env: Path) -> None:
    """Through the CLI: the stanza gets sslrootcert=system; doctor agrees with libpq 16."""
    az = FakeAz(isolated_env.parent / "azbin", isolated_env.parent / "issued.jsonl", principal="DB Admins")
    cli.env.update(az.env(), AZURE_TOKEN_CREDENTIALS="AzureCliCredential", PGIAM_LIBPQ_VERSION="16.2")
    r = cli("add", "a", "--host", HOST, "--user", "DB Admins")
    assert r.code == 0, r.err
    stanza = (isolated_env / ".pg_service.conf").read_text()
    assert "sslmode=verify-full\n" in stanza and "sslrootcert=system\n" in stanza
    line = (isolated_env / ".pgpass").read_text().splitlines()[0]
    assert line.startswith(f"{HOST}:5432:postgres:DB Admins:ey")  # spaces kept, only \\ and : escaped
    checks = {c["check"]: c for c in json.loads(cli("doctor", "a", "--json").out) if c["service"] == "a"}
    assert checks["libpq for azure"]["status"] == "ok" and "system" in checks["libpq for azure"]["verdict"]
    assert checks["tls"]["status"] == "ok"
    cli.env["PGIAM_LIBPQ_VERSION"] = "15.4"
    checks = {c["check"]: c for c in json.loads(cli("doctor", "a", "--json").out) if c["service"] == "a"}
    assert checks["libpq for azure"]["status"] == "fail"
