"""`pgiam doctor` judges the stored token itself, and explains a refused login by the cause it can see.

The --connect tests run the real psql against the rig (TLS verify-full, a verifier that accepts only
valid tokens)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import TEST_KEY_ID, TEST_SECRET, Cli
from tests.e2e_helpers import add_args, prepare
from tests.pg.rig import Rig
from tests.pg.sigv4_check import presign

HOST = "mydb.abc123.us-east-1.rds.amazonaws.com"


def checks(cli: Cli, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[tuple[str | None, str],
                                                                                       dict[str, str]]]:
    r = cli("doctor", "--json", *args, env=env)
    return r.code, {(c["service"], c["check"]): c for c in json.loads(r.out)}


def plant(home: Path, host: str, port: int, user: str, dbname: str, token: str) -> None:
    """Replace the password of pgiam's pgpass line for host:port:dbname:user with `token`."""
    pgpass = home / ".pgpass"
    prefix = f"{host}:{port}:{dbname}:{user}:"
    lines = pgpass.read_text().splitlines()
    escaped = token.replace("\\", "\\\\").replace(":", "\\:")
    out = [prefix + escaped if ln.startswith(prefix) else ln for ln in lines]
    assert out != lines
    pgpass.write_text("\n".join(out) + "\n")


def sign(host: str, port: int, user: str, *, region: str = "us-east-1", at: float | None = None) -> str:
    return presign(host=f"{host}:{port}", service="rds-db", region=region, access_key_id=TEST_KEY_ID,
                   secret=TEST_SECRET, params={"Action": "connect", "DBUser": user},
                   now=time.time() if at is None else at)


@pytest.mark.parametrize(("token_args", "words"), [
    ({"at": time.time() - 3600}, "expired"),
    ({"at": time.time() + 3600}, "in the future"),
    ({"host": "other.abc123.us-east-1.rds.amazonaws.com"}, "signed for other.abc123"),
    ({"port": 15432}, f"signed for {HOST}:15432, not {HOST}:5432"),
    ({"user": "mallory"}, "database user 'mallory'"),
    ({"region": "eu-west-1"}, "region eu-west-1"),
])
def test_stored_token_is_checked_without_connect(cli: Cli, isolated_env: Path, token_args: dict[str, object],
                                                 words: str) -> None:
    cli.static_keys()
    assert cli("add", "prod", "--host", HOST, "--user", "alice").code == 0
    code, c = checks(cli, "prod")
    assert c[("prod", "token")]["status"] == "ok" and "valid for 1" in c[("prod", "token")]["verdict"]
    kw: dict[str, object] = {"host": HOST, "port": 5432, "user": "alice"}
    kw.update(token_args)
    at = kw.pop("at", None)
    region = str(kw.pop("region", "us-east-1"))
    plant(isolated_env, HOST, 5432, "alice", "alice",
          sign(str(kw["host"]), int(str(kw["port"])), str(kw["user"]), region=region,
               at=None if at is None else float(str(at))))
    code, c = checks(cli, "prod")
    tok = c[("prod", "token")]
    assert code == 1 and tok["status"] == "fail" and words in tok["verdict"], tok
    assert "pgiam refresh" in tok["fix"]
    r = cli("doctor", "prod")
    assert r.code == 1 and "FAIL  prod: token: " in r.out and "X-Amz" not in r.out


def test_expired_token_with_broken_credentials_points_at_the_credentials(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    assert cli("add", "prod", "--host", HOST, "--user", "alice").code == 0
    plant(isolated_env, HOST, 5432, "alice", "alice", sign(HOST, 5432, "alice", at=time.time() - 3600))
    cli.env.clear()
    code, c = checks(cli, "prod", env={"AWS_PROFILE": "gone"})
    assert code == 1 and c[("prod", "credentials")]["status"] == "fail"
    assert c[("prod", "token")]["fix"].startswith("fix the AWS credentials first")
    assert list(c).index(("prod", "credentials")) < list(c).index(("prod", "token"))
    # no other check offers a refresh that would fail the same way
    (isolated_env / ".pgpass").unlink()
    code, c = checks(cli, "prod", env={"AWS_PROFILE": "gone"})
    offers = [v["fix"] for v in c.values() if "pgiam refresh" in v["fix"]]
    assert offers and all(f.startswith("fix the AWS credentials first") for f in offers), offers


def test_pgjdbc_notes_only_for_jdbc_services(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    assert cli("add", "prod", "--host", HOST, "--user", "alice", "--hostaddr", "127.0.0.1",
               "--local-port", "15432").code == 0
    _code, c = checks(cli)
    assert ("prod", "pgjdbc") not in c
    cfg = isolated_env / ".config" / "pgiam" / "config.toml"
    cfg.write_text(cfg.read_text() + "jdbc = true\n")
    _code, c = checks(cli)
    assert c[("prod", "pgjdbc")]["status"] in ("ok", "fail")


def test_port_instead_of_local_port_is_named_without_connect(cli: Cli) -> None:
    cli.static_keys()
    assert cli("add", "tun", "--host", HOST, "--user", "alice", "--hostaddr", "127.0.0.1", "--port",
               "15432").code == 0
    _code, c = checks(cli, "tun")
    t = c[("tun", "tunnel port")]
    assert t["status"] == "warn" and "did you mean `--local-port 15432`" in t["fix"]


@pytest.mark.pg
def test_connect_blames_pgpassword_first(rig: Rig, cli: Cli) -> None:
    prepare(rig, cli)
    assert cli(*add_args(rig, "demo", "jane_doe")).code == 0
    code, c = checks(cli, "demo", "--connect", env={"PGPASSWORD": "not-a-token"})
    conn = c[("demo", "connect")]
    assert code == 1 and conn["status"] == "fail", conn
    assert "PGPASSWORD" in conn["verdict"] and "unset PGPASSWORD" in conn["fix"]
    assert "rds_iam" not in conn["fix"]


@pytest.mark.pg
def test_connect_explains_an_expired_token(rig: Rig, cli: Cli, isolated_env: Path) -> None:
    prepare(rig, cli)
    assert cli(*add_args(rig, "demo", "jane_doe")).code == 0
    plant(isolated_env, rig.host, rig.port, "jane_doe", "postgres",
          sign(rig.host, rig.signed_port, "jane_doe", region=rig.region, at=time.time() - 3600))
    code, c = checks(cli, "demo", "--connect")
    conn = c[("demo", "connect")]
    assert code == 1 and conn["status"] == "fail" and "expired" in conn["verdict"], conn
    assert conn["fix"].startswith("run `pgiam refresh demo`")


@pytest.mark.pg
def test_connect_suggests_local_port_for_a_tunnel_port_signed_token(rig: Rig, cli: Cli) -> None:
    prepare(rig, cli)
    # the classic mistake: --port <tunnel port> instead of --local-port <tunnel port>
    args = ["add", "tun", "--host", rig.host, "--port", str(rig.port), "--user", "jane_doe", "--dbname",
            "postgres", "--hostaddr", "127.0.0.1", "--sslrootcert", rig.ca_file]
    assert cli(*args).code == 0
    code, c = checks(cli, "tun", "--connect")
    conn = c[("tun", "connect")]
    assert code == 1 and conn["status"] == "fail", conn
    assert f"did you mean `--local-port {rig.port}`" in conn["fix"]


@pytest.mark.pg
def test_connect_puts_credentials_before_generic_advice(rig: Rig, cli: Cli) -> None:
    prepare(rig, cli)
    assert cli(*add_args(rig, "demo", "jane_doe")).code == 0
    rig.forget_credentials(TEST_KEY_ID)
    cli.env.clear()
    code, c = checks(cli, "demo", "--connect", env={"AWS_PROFILE": "gone"})
    conn = c[("demo", "connect")]
    assert code == 1 and "profile 'gone'" in conn["verdict"], conn
    assert "pgiam refresh --force" not in conn["fix"]
