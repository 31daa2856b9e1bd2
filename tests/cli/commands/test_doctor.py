"""`pgiam doctor` through the CLI: real files, environment, libpq version, DNS, and --connect with the rig."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ca_helpers import bundle
from tests.conftest import Cli
from tests.e2e_helpers import add_args, prepare
from tests.pg.rig import Rig

HOST = "mydb.abc123.us-east-1.rds.amazonaws.com"


def checks(
    cli: Cli, *args: str, env: dict[str, str] | None = None
) -> tuple[int, dict[tuple[str | None, str], dict[str, str]]]:
    r = cli("doctor", "--json", *args, env=env)
    assert r.err == "", r.err
    return r.code, {(c["service"], c["check"]): c for c in json.loads(r.out)}


def test_healthy_setup_after_ca_install(cli: Cli, isolated_env: Path) -> None:
    src = isolated_env / "bundle.pem"
    src.write_bytes(bundle(2))
    assert cli("ca", "install", "--from", str(src)).code == 0
    cli.static_keys()
    assert cli("add", "prod", "--host", HOST, "--user", "alice").code == 0
    code, c = checks(cli, env={"PGIAM_LIBPQ_VERSION": "15.4"})
    assert code == 0
    assert {v["status"] for v in c.values()} == {"ok"}, [v for v in c.values() if v["status"] != "ok"]
    assert c[("prod", "sslrootcert")]["verdict"].endswith("2 PEM certificates")
    assert c[("prod", "credentials")]["verdict"] == "the default chain: env, no expiry"
    r = cli("doctor", env={"PGIAM_LIBPQ_VERSION": "15.4"})
    assert r.code == 0 and r.out.startswith("ok    home directory: ")
    assert "ok    pgpass file: " in r.out and "X-Amz" not in r.out


def test_problems_are_found_with_fixes(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    assert cli("add", "prod", "--host", HOST, "--user", "alice").code == 0
    pgpass = isolated_env / ".pgpass"
    pgpass.write_text(f"{HOST}:5432:*:alice:stale\n" + pgpass.read_text())
    pgpass.chmod(0o644)
    code, c = checks(cli, "prod", env={"PGPASSWORD": "x", "PGIAM_LIBPQ_VERSION": "12.4"})
    assert code == 1
    assert c[(None, "pgpass file")]["status"] == "fail" and "0644" in c[(None, "pgpass file")]["verdict"]
    assert c[(None, "PGPASSWORD")]["status"] == "warn"
    assert c[(None, "libpq version")]["status"] == "fail" and "12.4" in c[(None, "libpq version")]["verdict"]
    entry = c[("prod", "pgpass entry")]
    assert (
        entry["status"] == "fail"
        and "line 1" in entry["verdict"]
        and "stale" not in json.dumps(list(c.values()))
    )
    assert (
        c[("prod", "sslrootcert")]["status"] == "fail"
        and "pgiam ca install" in c[("prod", "sslrootcert")]["fix"]
    )
    r = cli("doctor", "prod", env={"PGPASSWORD": "x"})
    assert r.code == 1 and "FAIL  pgpass file:" in r.out and "      fix: chmod 600" in r.out


def test_non_endpoint_host_is_resolved(cli: Cli, isolated_env: Path) -> None:
    cfg = isolated_env / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f'[services.tun]\nhost = "localhost"\nsigning_host = "{HOST}"\nuser = "alice"\n')
    cli.static_keys()
    _code, c = checks(cli)
    assert c[("tun", "host")]["status"] == "warn"
    assert "localhost is not an AWS endpoint" in c[("tun", "host")]["verdict"]
    assert c[("tun", "stanza")]["status"] == "fail"  # never refreshed yet


def test_unknown_service(cli: Cli) -> None:
    r = cli("doctor", "nope")
    assert r.code == 2 and "no service 'nope'" in r.err


@pytest.mark.pg
def test_connect_against_the_rig(rig: Rig, cli: Cli, isolated_env: Path) -> None:
    prepare(rig, cli)
    assert cli(*add_args(rig, "demo", "jane_doe")).code == 0
    code, c = checks(cli, "demo", "--connect")
    assert c[("demo", "connect")]["status"] == "ok", c[("demo", "connect")]
    clock = c[("demo", "clock")]
    assert clock["status"] == "ok" and ("behind" in clock["verdict"] or "ahead" in clock["verdict"])
    # the server stops accepting these credentials: the failure is explained
    rig.forget_credentials("AKIDPGIAMTEST0000001")
    code, c = checks(cli, "demo", "--connect")
    assert code == 1
    conn = c[("demo", "connect")]
    assert conn["status"] == "fail" and "refused the token" in conn["verdict"] and "rds_iam" in conn["fix"]
    assert ("demo", "clock") not in c
