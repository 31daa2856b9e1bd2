"""`pgiam psql NAME [PSQL-ARGS...]`: refresh when needed, then the real psql against the rig with
`service=NAME`; the token never appears in psql's argv."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.conftest import TEST_KEY_ID, TEST_SECRET, Cli
from tests.e2e_helpers import add_args, prepare
from tests.helpers_fs import claim
from tests.pg.rig import Rig
from tests.pg.sigv4_check import presign


def _argv_recorder(tmp_path: Path, psql: str) -> tuple[str, Path]:
    """A psql on PATH that records its argv and PGPASSWORD, then runs the real psql."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "argv.log"
    shim = bindir / "psql"
    shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {log}\necho "PGPASSWORD=${{PGPASSWORD:-}}" >> {log}\n'
                    f'exec {psql} "$@"\n')
    shim.chmod(0o755)
    return f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}", log


@pytest.mark.pg
def test_psql_refreshes_an_expired_token_then_connects(rig: Rig, cli: Cli, isolated_env: Path,
                                                       tmp_path: Path) -> None:
    prepare(rig, cli)
    assert cli(*add_args(rig, "demo", "jane_doe")).code == 0
    pgpass = isolated_env / ".pgpass"
    old = presign(host=rig.signed_endpoint, service="rds-db", region=rig.region, access_key_id=TEST_KEY_ID,
                  secret=TEST_SECRET, params={"Action": "connect", "DBUser": "jane_doe"}, now=time.time() - 3600)
    lines = pgpass.read_text().splitlines()
    prefix = f"{rig.host}:{rig.port}:postgres:jane_doe:"
    pgpass.write_text("\n".join(prefix + old.replace(":", "\\:") if ln.startswith(prefix) else ln
                                for ln in lines) + "\n")
    claim(isolated_env / ".local" / "state" / "pgiam" / "state.json", old)  # as if pgiam had written it
    path, log = _argv_recorder(tmp_path, rig.psql_path)
    r = cli("psql", "demo", "-X", "-A", "-t", "-c", "select current_user",
            env={"PATH": path, "PGPASSWORD": "stale", "PGCONNECT_TIMEOUT": "10"})
    assert r.code == 0, r.err
    assert r.out.strip() == "jane_doe"
    assert "PGPASSWORD is set" in r.err
    assert old.replace(":", "\\:") not in pgpass.read_text()  # refreshed before psql ran
    recorded = log.read_text()
    assert recorded.splitlines()[:2] == ["-d", "service=demo"] and "X-Amz" not in recorded
    assert "PGPASSWORD=\n" in recorded
    # a fresh token: psql runs with it as it is, and psql's exit status passes through
    r = cli("psql", "demo", "-X", "-c", "select 1/0", env={"PATH": path})
    assert r.code != 0 and "division by zero" in r.err


def test_psql_unknown_service_is_a_usage_error(cli: Cli) -> None:
    r = cli("psql", "nope")
    assert r.code == 2 and "no service 'nope'" in r.err


def test_psql_failed_refresh_does_not_run_psql(cli: Cli, tmp_path: Path) -> None:
    cli.static_keys()
    cfg = cli.home / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True)  # (`add` saves nothing for a service whose token it cannot get)
    cfg.write_text('[services.prod]\nhost = "db1.abc123xyz.us-west-2.rds.amazonaws.com"\nuser = "u"\n'
                   'profile = "nosuch"\n')
    path, log = _argv_recorder(tmp_path, "/bin/false")
    r = cli("psql", "prod", env={"PATH": path})
    assert r.code == 1 and "nosuch" in r.err and not log.exists()
