"""Cloud SQL and AlloyDB: the real google-auth ADC against a local OAuth token endpoint (named as
token_uri in a service-account key file); contract, user-name rules, and `pgiam add` + `psql service=NAME`
against the rig."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgiam.config.model import Service
from pgiam.providers.base import Token
from tests.cloud_stubs import (
    ALLOYDB_SCOPE,
    SQL_SCOPE,
    GoogleTokenEndpoint,
    external_account_adc,
    issued,
    service_account_adc,
)
from tests.conftest import Cli
from tests.e2e_helpers import psql_service
from tests.pg.rig import Rig
from tests.providers.test_contract import TokenProviderContract

SA_EMAIL = "reporting@stand-in-project.iam.gserviceaccount.com"
SA_USER = "reporting@stand-in-project.iam"


@pytest.fixture
def google(tmp_path: Path) -> Iterator[GoogleTokenEndpoint]:
    endpoint = GoogleTokenEndpoint(tmp_path / "google-issued.jsonl").start()
    yield endpoint
    endpoint.stop()


class _GoogleContract(TokenProviderContract):
    max_lifetime = 3600
    source = "service_account"
    kind = "cloudsql"
    scope = SQL_SCOPE

    @pytest.fixture
    def svc(self) -> Service:
        return Service(name="g", host="10.20.30.40", user=SA_USER, kind=self.kind, dbname="postgres",
                       sslmode="require")

    @pytest.fixture
    def keys(self, google: GoogleTokenEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.endpoint = google
        adc = service_account_adc(tmp_path / "sa.json", google.token_uri, SA_EMAIL)
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))

    def accepts(self, token: Token, svc: Service) -> None:
        digest = hashlib.sha256(token.value.encode()).hexdigest()
        rec = [r for r in issued(self.endpoint.ledger) if r["sha256"] == digest]
        assert rec and rec[-1]["role"] == svc.user
        assert abs(float(str(rec[-1]["exp"])) - token.expires_at.timestamp()) < 2
        assert self.endpoint.scopes_seen[-1] == self.scope  # the login scope, nothing broader


class TestCloudSqlContract(_GoogleContract):
    pass


class TestAlloyDbContract(_GoogleContract):
    kind = "alloydb"
    scope = ALLOYDB_SCOPE


# --------------------------------------------------------------------------- config and CLI rules


def test_service_account_long_form_is_refused_with_the_fix(cli: Cli) -> None:
    r = cli("add", "sql", "--kind", "cloudsql", "--host", "10.1.2.3", "--user", SA_EMAIL)
    assert r.code == 2
    assert r.err.count("\n") == 1 and f"use '{SA_USER}'" in r.err and ".gserviceaccount.com" in r.err
    assert not (cli.home / ".config" / "pgiam" / "config.toml").exists()
    r = cli("token", "--kind", "alloydb", "--hostname", "10.1.2.3", "--username", SA_EMAIL)
    assert r.code == 2 and f"use '{SA_USER}'" in r.err


def test_ip_host_is_fine_and_tls_defaults_follow_the_ca(isolated_env: Path) -> None:
    from pgiam.config.model import load

    cfg = isolated_env / "c.toml"
    cfg.write_text('[services.a]\nkind = "cloudsql"\nhost = "10.1.2.3"\nuser = "ann@example.com"\n'
                   '[services.b]\nkind = "alloydb"\nhost = "10.1.2.4"\nuser = "ann@example.com"\n'
                   'sslrootcert = "/etc/alloydb-ca.pem"\n'
                   '[services.c]\nkind = "cloudsql"\nhost = "db.example.com"\nuser = "ann@example.com"\n'
                   'sslrootcert = "/ca.pem"\nsslmode = "verify-full"\n')
    s = load(cfg).services
    assert (s["a"].sslmode, s["a"].dbname) == ("require", "postgres")
    assert s["b"].sslmode == "verify-ca"
    assert s["c"].sslmode == "verify-full"  # explicit wins


# --------------------------------------------------------------------------- through the CLI, on the rig


@pytest.mark.pg
@pytest.mark.parametrize("kind", ["cloudsql", "alloydb"])
def test_add_then_psql_service_logs_in_with_the_google_token(kind: str, rig: Rig, cli: Cli, isolated_env: Path,
                                                            google: GoogleTokenEndpoint) -> None:
    rig.create_role(SA_USER, rds_iam=False)
    google.on_issue = rig.accept_bearer
    adc = service_account_adc(isolated_env.parent / "sa.json", google.token_uri, SA_EMAIL)
    cli.env["GOOGLE_APPLICATION_CREDENTIALS"] = str(adc)
    # by IP address, verified against the instance CA (verify-ca by default once sslrootcert is set)
    r = cli("add", "gdb", "--kind", kind, "--host", "127.0.0.1", "--port", str(rig.port), "--user", SA_USER,
            "--sslrootcert", rig.ca_file)
    assert r.code == 0, r.err
    stanza = (isolated_env / ".pg_service.conf").read_text()
    assert "host=127.0.0.1\n" in stanza and "sslmode=verify-ca\n" in stanza and f"user={SA_USER}\n" in stanza
    p = psql_service(rig, isolated_env, "gdb")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == SA_USER
    ev = [e for e in rig.verifier_events() if e.accepted]
    assert ev and ev[-1].password_sha256 == issued(google.ledger)[-1]["sha256"]
    assert google.scopes_seen[-1] == (SQL_SCOPE if kind == "cloudsql" else ALLOYDB_SCOPE)

    # the refresh window follows the token's real lifetime: fresh now, expiring once inside refresh_before
    st = json.loads(cli("status", "--json", "--details").out)[0]
    assert st["state"] == "fresh" and st["credential_source"] == "service_account"
    r = cli("refresh")
    assert r.code == 0 and r.out == ""  # nothing to do
    doc = {c["check"]: c for c in json.loads(cli("doctor", "gdb", "--json").out) if c["service"] == "gdb"}
    assert doc["credentials"]["status"] == "ok" and "service_account" in doc["credentials"]["verdict"]
    assert doc["extra"]["status"] == "ok" and doc["user name"]["status"] == "ok"

    # a token the stand-in never issued is refused
    p = psql_service(rig, isolated_env, "gdb", env={"PGPASSWORD": "ya29.forged"})
    assert p.returncode != 0 and "unknown bearer token" in rig.verifier_events()[-1].reason


@pytest.mark.pg
def test_short_lived_token_is_renewed_on_the_next_refresh(rig: Rig, cli: Cli, isolated_env: Path,
                                                          google: GoogleTokenEndpoint) -> None:
    """A 4-minute token sits inside the default 5-minute window: every refresh renews it."""
    rig.create_role(SA_USER, rds_iam=False)
    google.on_issue = rig.accept_bearer
    google.lifetime = 240
    cli.env["GOOGLE_APPLICATION_CREDENTIALS"] = str(
        service_account_adc(isolated_env.parent / "sa.json", google.token_uri, SA_EMAIL))
    r = cli("add", "short", "--kind", "cloudsql", "--host", "127.0.0.1", "--port", str(rig.port), "--user",
            SA_USER, "--sslrootcert", rig.ca_file)
    assert r.code == 0, r.err
    st = json.loads(cli("status", "--json").out)[0]
    assert st["state"] == "expiring"
    r = cli("refresh")
    assert r.code == 0 and "short: refreshed" in r.out
    assert len(issued(google.ledger)) == 2
    assert psql_service(rig, isolated_env, "short").returncode == 0


@pytest.mark.pg
def test_workload_identity_federation_external_account(rig: Rig, cli: Cli, isolated_env: Path,
                                                       google: GoogleTokenEndpoint) -> None:
    """An external_account ADC file (subject token from a file, STS exchange at token_url). google-auth
    would look the project up in Cloud Resource Manager unless GOOGLE_CLOUD_PROJECT names it."""
    rig.create_role("wif-user@example.com", rds_iam=False)
    google.on_issue = rig.accept_bearer
    google.accounts["subject-token-1"] = "wif-user@example.com"
    adc = external_account_adc(isolated_env.parent / "wif.json", google.token_uri, "subject-token-1")
    cli.env.update(GOOGLE_APPLICATION_CREDENTIALS=str(adc), GOOGLE_CLOUD_PROJECT="stand-in-project")
    r = cli("add", "wif", "--kind", "cloudsql", "--host", "127.0.0.1", "--port", str(rig.port), "--user",
            "wif-user@example.com", "--sslrootcert", rig.ca_file, "--sslmode", "verify-full")
    assert r.code == 0, r.err
    p = psql_service(rig, isolated_env, "wif")
    assert p.returncode == 0 and p.stdout.strip() == "wif-user@example.com", p.stderr
    assert google.server is not None and [q.path for q in google.server.requests] == ["/token"]
    assert json.loads(cli("status", "--json", "--details").out)[0]["credential_source"] == "external_account"
