"""Azure Database for PostgreSQL: the real azure-identity DefaultAzureCredential against an `az` stand-in
on PATH; contract, config rules, and `pgiam add` + `psql service=NAME` against the rig."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from pgiam.config.model import Service
from pgiam.providers import get_provider
from pgiam.providers.base import Token
from tests.cloud_stubs import FakeAz, issued
from tests.conftest import Cli
from tests.e2e_helpers import psql_service
from tests.pg.rig import AZURE_HOST, Rig
from tests.providers.test_contract import TokenProviderContract

HOST = "mydb.postgres.database.azure.com"
PRINCIPAL = "DB Admins"  # an Entra group: spaces are part of the role name


def token_for(path: Path, token: Token) -> dict[str, object]:
    digest = hashlib.sha256(token.value.encode()).hexdigest()
    found = [r for r in issued(path) if r["sha256"] == digest]
    assert found, "the token was not issued by the az stand-in"
    return found[-1]


class TestAzureContract(TokenProviderContract):
    max_lifetime = 3600
    source = "AzureCliCredential"

    @pytest.fixture
    def svc(self) -> Service:
        return Service(name="az", host=HOST, user=PRINCIPAL, kind="azure", dbname="postgres")

    @pytest.fixture
    def az(self, tmp_path: Path) -> FakeAz:
        return FakeAz(tmp_path / "azbin", tmp_path / "issued.jsonl", principal=PRINCIPAL)

    @pytest.fixture
    def keys(self, az: FakeAz, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("PATH", az.env()["PATH"])
        monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")  # the library's own selector

    def accepts(self, token: Token, svc: Service) -> None:
        rec = token_for(Path(os.environ["PATH"].split(os.pathsep)[0]).parent / "issued.jsonl", token)
        assert rec["role"] == svc.user
        assert abs(float(str(rec["exp"])) - token.expires_at.timestamp()) < 1  # expiry from the token


def test_default_chain_reaches_the_cli_past_a_refused_managed_identity(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """No AZURE_TOKEN_CREDENTIALS: environment, workload identity, managed identity (a closed loopback port),
    then `az` — the library's standard order, and the token asked for the ossrdbms resource."""
    az = FakeAz(tmp_path / "azbin", tmp_path / "issued.jsonl", principal="alice@contoso.example", lifetime=900)
    monkeypatch.setenv("PATH", az.env()["PATH"])
    from datetime import datetime, timezone

    from pgiam.aws.credentials import CredentialCache

    svc = Service(name="a", host=HOST, user="alice@contoso.example", kind="azure", dbname="postgres")
    cache = CredentialCache()
    now = datetime.now(timezone.utc)
    tok = get_provider("azure").issue(svc, cache, now)
    assert tok.source == "AzureCliCredential"
    assert 880 <= (tok.expires_at - now).total_seconds() <= 905  # the token's own lifetime, not a guess
    # one token per run, whatever the number of Azure services
    other = Service(name="b", host="other.postgres.database.azure.com", user="bob", kind="azure", dbname="x")
    assert get_provider("azure").issue(other, cache, now).value == tok.value
    assert az.argv_seen() == [["account", "get-access-token", "--output", "json", "--resource",
                               "https://ossrdbms-aad.database.windows.net"]]


def test_token_selector_can_exclude_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AZURE_TOKEN_CREDENTIALS=prod leaves out `az`: no token, one line naming the fix."""
    az = FakeAz(tmp_path / "azbin", tmp_path / "issued.jsonl")
    monkeypatch.setenv("PATH", az.env()["PATH"])
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "prod")
    from datetime import datetime, timezone

    from pgiam.aws.credentials import CredentialCache
    from pgiam.errors import CredentialsError

    svc = Service(name="a", host=HOST, user="u", kind="azure", dbname="postgres")
    with pytest.raises(CredentialsError) as e:
        get_provider("azure").issue(svc, CredentialCache(), datetime.now(timezone.utc))
    assert "az login" in str(e.value) and "\n" not in str(e.value)
    assert az.argv_seen() == []


# --------------------------------------------------------------------------- config


def test_kind_is_inferred_from_the_azure_host(cli: Cli, isolated_env: Path) -> None:
    from pgiam.config.model import load

    cfg = isolated_env / "c.toml"
    cfg.write_text(f'[services.a]\nhost = "{HOST}"\nuser = "DB Admins"\n')
    svc = load(cfg).services["a"]
    assert (svc.kind, svc.dbname, svc.sslmode, svc.region) == ("azure", "postgres", "verify-full", None)


def test_aws_only_keys_are_refused_for_azure(isolated_env: Path) -> None:
    from pgiam.config.model import load
    from pgiam.errors import ConfigError

    cfg = isolated_env / "c.toml"
    cfg.write_text(f'[services.a]\nhost = "{HOST}"\nuser = "u"\nregion = "us-east-1"\n')
    broken = load(cfg).broken  # an invalid service is recorded with its reason (the others still load)
    with pytest.raises(ConfigError, match="only for AWS services"):
        raise broken["a"]


# --------------------------------------------------------------------------- through the CLI, on the rig


@pytest.mark.pg
def test_add_then_psql_service_logs_in_with_the_entra_token(rig: Rig, cli: Cli, isolated_env: Path) -> None:
    rig.create_role(PRINCIPAL, rds_iam=False)
    az = FakeAz(isolated_env.parent / "azbin", Path(rig.bearer_file), principal=PRINCIPAL)
    cli.env.update(az.env(), AZURE_TOKEN_CREDENTIALS="AzureCliCredential")
    r = cli("add", "entra", "--host", AZURE_HOST, "--user", PRINCIPAL, "--port", str(rig.port),
            "--hostaddr", rig.hostaddr, "--sslrootcert", rig.ca_file)
    assert r.code == 0, r.err
    assert "entra: refreshed" in r.out
    config = (isolated_env / ".config" / "pgiam" / "config.toml").read_text()
    assert 'kind' not in config  # inferred from the host name
    stanza = (isolated_env / ".pg_service.conf").read_text()
    assert f"user={PRINCIPAL}\n" in stanza and "sslmode=verify-full\n" in stanza and "dbname=postgres\n" in stanza
    p = psql_service(rig, isolated_env, "entra")
    assert p.returncode == 0, p.stderr + rig.server_log()[-2000:]
    assert p.stdout.strip() == PRINCIPAL
    accepted = [e for e in rig.verifier_events() if e.accepted]
    assert accepted and accepted[-1].role == PRINCIPAL
    assert accepted[-1].password_sha256 == issued(Path(rig.bearer_file))[-1]["sha256"]

    # status: expiry from the token (state), fresh; doctor names the credential that served it
    st = json.loads(cli("status", "--json", "--details").out)
    assert st[0]["state"] == "fresh" and st[0]["credential_source"] == "AzureCliCredential"
    doc = cli("doctor", "entra", "--json")
    checks = {c["check"]: c for c in json.loads(doc.out) if c["service"] == "entra"}
    assert checks["extra"]["status"] == "ok"
    assert "AzureCliCredential" in checks["credentials"]["verdict"]
    assert checks["user name"]["status"] == "ok"

    # a token for another role is refused by the verifier (it checks the role the token was issued for)
    rig.create_role("someone else", rds_iam=False)
    r = cli("add", "other", "--host", AZURE_HOST, "--user", "someone else", "--port", str(rig.port),
            "--hostaddr", rig.hostaddr, "--sslrootcert", rig.ca_file)
    assert r.code == 0, r.err
    p = psql_service(rig, isolated_env, "other")
    assert p.returncode != 0
    assert "issued for 'DB Admins'" in rig.verifier_events()[-1].reason

    # env and exec hand out a fresh token too
    r = cli("exec", "entra", "--", rig.psql_path, "-X", "-A", "-t", "-c", "select current_user")
    assert r.code == 0 and r.out.strip() == PRINCIPAL, r.err
    r = cli("env", "entra")
    assert r.code == 0 and "export PGPASSWORD=" in r.out and "export PGSERVICE=entra" in r.out


@pytest.mark.pg
def test_token_kind_azure_prints_an_accepted_token(rig: Rig, cli: Cli, isolated_env: Path) -> None:
    rig.create_role("carol@contoso.example", rds_iam=False)
    az = FakeAz(isolated_env.parent / "azbin", Path(rig.bearer_file), principal="carol@contoso.example")
    cli.env.update(az.env(), AZURE_TOKEN_CREDENTIALS="AzureCliCredential")
    r = cli("token", "--kind", "azure", "--hostname", AZURE_HOST, "--username", "carol@contoso.example")
    assert r.code == 0, r.err
    p = rig.psql("carol@contoso.example", "select current_user", password=r.out.strip(), host=AZURE_HOST)
    assert p.returncode == 0 and p.stdout.strip() == "carol@contoso.example", p.stderr


def test_not_logged_in_is_one_line_with_the_fix(cli: Cli, isolated_env: Path) -> None:
    az = FakeAz(isolated_env.parent / "azbin", isolated_env.parent / "issued.jsonl", logged_in=False)
    cli.env.update(az.env(), AZURE_TOKEN_CREDENTIALS="AzureCliCredential")
    r = cli("token", "--hostname", HOST, "--username", "u")
    assert r.code == 1
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pgiam: error: ") and "az login" in lines[0], r.err


def test_check_credentials_leaves_cloud_services_out(cli: Cli, isolated_env: Path) -> None:
    """check-credentials is the AWS STS preflight: an Azure-only config asks AWS nothing."""
    cfg = isolated_env / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f'[services.a]\nhost = "{HOST}"\nuser = "u"\n')
    r = cli("check-credentials", "--json")
    assert r.code == 0 and json.loads(r.out) == [], r.out + r.err
