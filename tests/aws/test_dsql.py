"""Aurora DSQL provider: contract, CLI refresh for admin and custom roles, stanza by libpq version."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pgiam.config.model import Service
from pgiam.providers.base import Token
from tests.conftest import TEST_KEY_ID, TEST_SECRET, Cli
from tests.pg.sigv4_check import verify_presigned
from tests.providers.test_contract import SESSION, ProviderContract

HOST = "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws"
KEYS = {TEST_KEY_ID: (TEST_SECRET, None)}


def verify(token: str, action: str, session: str | None = None, max_expires: int = 900) -> None:
    verify_presigned(
        token,
        service="dsql",
        expected_host=HOST,
        action=action,
        lookup={TEST_KEY_ID: (TEST_SECRET, session)}.get,
        now=time.time(),
        region="us-east-1",
        max_expires=max_expires,
    )


class TestDsqlContract(ProviderContract):
    @pytest.fixture(params=["admin", "app_reader"])
    def svc(self, request: pytest.FixtureRequest) -> Service:
        return Service(
            name="d", host=HOST, user=request.param, kind="dsql", region="us-east-1", dbname="postgres"
        )

    def accepts(self, token: Token, svc: Service) -> None:
        verify(token.value, "DbConnectAdmin" if svc.user == "admin" else "DbConnect", SESSION)


class TestDsqlWeekLong(TestDsqlContract):
    max_lifetime = 604800

    @pytest.fixture(params=["admin"])
    def svc(self, request: pytest.FixtureRequest) -> Service:
        return Service(
            name="d",
            host=HOST,
            user="admin",
            kind="dsql",
            region="us-east-1",
            dbname="postgres",
            token_lifetime=604800,
        )

    def accepts(self, token: Token, svc: Service) -> None:
        assert "X-Amz-Expires=604800&" in token.value
        verify(token.value, "DbConnectAdmin", SESSION, max_expires=604800)


def config(home: Path, body: str) -> None:
    path = home / ".config" / "pgiam" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)


def pgpass_entries(home: Path) -> dict[str, str]:
    out = {}
    for line in (home / ".pgpass").read_text().splitlines():
        host, port, db, user, pw = line.split(":", 4)
        out[user] = pw.replace("\\:", ":").replace("\\\\", "\\")
        assert (host, port, db) == (HOST, "5432", "postgres")
    return out


def test_refresh_admin_and_custom_role_new_libpq(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    cli.env["PGIAM_LIBPQ_VERSION"] = "16.2"
    config(
        isolated_env,
        f'[services.dadmin]\nhost = "{HOST}"\nuser = "admin"\n'
        f'[services.dapp]\nhost = "{HOST}"\nuser = "app_reader"\ntoken_lifetime = 3600\n',
    )
    r = cli("refresh")
    assert r.code == 0, r.err
    assert r.err == ""
    tokens = pgpass_entries(isolated_env)
    verify(tokens["admin"], "DbConnectAdmin")
    verify(tokens["app_reader"], "DbConnect", max_expires=3600)
    assert "X-Amz-Expires=3600&" in tokens["app_reader"] and ":5432/" not in tokens["admin"]
    stanza = (isolated_env / ".pg_service.conf").read_text()
    assert (
        "\nhost=" + HOST + "\nport=5432\ndbname=postgres\nuser=admin\nsslmode=verify-full\n"
        "sslrootcert=system\n" in stanza
    )
    assert cli("refresh").out == ""  # fresh: nothing to do
    assert '"state": "fresh"' in cli("status", "--json").out


def test_old_libpq_gets_require_with_a_notice(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    cli.env["PGIAM_LIBPQ_VERSION"] = "15.4"
    config(isolated_env, f'[services.dadmin]\nhost = "{HOST}"\nuser = "admin"\n')
    r = cli("refresh")
    assert r.code == 0, r.err
    assert "older than 16" in r.err and "sslrootcert" in r.err
    stanza = (isolated_env / ".pg_service.conf").read_text()
    assert "sslmode=require\n" in stanza and "sslrootcert" not in stanza
    # an explicit CA bundle keeps verify-full on any libpq
    config(
        isolated_env, f'[services.dadmin]\nhost = "{HOST}"\nuser = "admin"\nsslrootcert = "/etc/ssl/ca.pem"\n'
    )
    r = cli("refresh")
    assert r.code == 0, r.err
    stanza = (isolated_env / ".pg_service.conf").read_text()
    assert "sslmode=verify-full\nsslrootcert=/etc/ssl/ca.pem\n" in stanza


def test_old_libpq_notice_format_quiet_and_token(cli: Cli, isolated_env: Path) -> None:
    """The notice is one `pgiam: ` line; -q drops it; `pgiam token` (which writes no stanza) never says it."""
    cli.static_keys()
    cli.env["PGIAM_LIBPQ_VERSION"] = "15.4"
    config(isolated_env, f'[services.dadmin]\nhost = "{HOST}"\nuser = "admin"\n')
    r = cli("refresh", "--force")
    assert r.code == 0, r.err
    assert r.err.splitlines() == [
        "pgiam: warning: dadmin: the local libpq is older than 16 or unknown (no sslrootcert=system), so the "
        "stanza uses "
        "sslmode=require; set `sslrootcert = PATH` to a CA bundle for verify-full"
    ]
    r = cli("-q", "refresh", "--force")
    assert (r.code, r.out, r.err) == (0, "", "")
    r = cli("token", "--kind", "dsql", "--hostname", HOST, "--username", "admin")
    assert r.code == 0 and r.out.startswith(HOST) and r.err == "", r.err


def test_lifetime_over_a_week_is_refused(cli: Cli, isolated_env: Path) -> None:
    config(isolated_env, f'[services.d]\nhost = "{HOST}"\nuser = "admin"\ntoken_lifetime = 604801\n')
    r = cli("refresh")
    assert r.code == 1 and "token_lifetime" in r.err and "604800" in r.err
