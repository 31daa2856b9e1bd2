"""After a long sleep: one `pgiam refresh` renews every expired token at once, and `pgiam env` /
`pgiam exec` never hand out an expired token (they sign anew, whatever pgpass holds)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pgiam.aws import rds, tokeninfo
from pgiam.libpq import pgpass
from tests.conftest import TEST_KEY_ID, TEST_SECRET, Cli
from tests.e2e_helpers import add_args, prepare, psql_service
from tests.helpers_fs import claim
from tests.pg.rig import Rig

HOST = "mydb.abc123.us-east-1.rds.amazonaws.com"


def stale(host: str, port: int, user: str, hours: int = 10) -> str:
    return rds.sign(
        host=host,
        port=port,
        region="us-west-2" if "us-west-2" in host else "us-east-1",
        user=user,
        access_key=TEST_KEY_ID,
        secret_key=TEST_SECRET,
        session_token=None,
        now=datetime.now(timezone.utc) - timedelta(hours=hours),
    )


def put_stale_tokens(home: Path, entries: list[tuple[pgpass.Key, str]]) -> None:
    """Put tokens signed hours ago in place of pgiam's lines, as a laptop that slept finds them."""
    path = home / ".pgpass"
    data = path.read_bytes()
    for key, token in entries:
        data = pgpass.upsert(data, key, token)
        claim(home / ".local" / "state" / "pgiam" / "state.json", token)
    path.write_bytes(data)


@pytest.mark.pg
def test_one_refresh_after_a_long_sleep_renews_everything(rig: Rig, cli: Cli, isolated_env: Path) -> None:
    users = ["wake_a", "wake_b", "wake_c"]
    prepare(rig, cli, users[0])
    for u in users[1:]:
        rig.create_role(u)
    for u in users:
        assert cli(*add_args(rig, u, u)).code == 0
    keys = [pgpass.Key(rig.host, str(rig.port), "postgres", u) for u in users]
    put_stale_tokens(isolated_env, [(k, stale(rig.host, rig.signed_port, k.user)) for k in keys])
    for u in users:
        assert psql_service(rig, isolated_env, u).returncode != 0  # expired hours ago: refused
    assert [row.count("expired") for row in cli("status").out.splitlines()[1:]] == [1, 1, 1]
    r = cli("--quiet", "refresh")
    assert (r.code, r.out, r.err) == (0, "", "")
    data = (isolated_env / ".pgpass").read_bytes()
    now = datetime.now(timezone.utc)
    for k in keys:
        found = pgpass.find(data, k)
        assert found is not None
        info = tokeninfo.decode(found[1])
        assert info is not None and abs((info.signed_at - now).total_seconds()) < 60
    for u in users:
        p = psql_service(rig, isolated_env, u)
        assert p.returncode == 0 and p.stdout.strip() == u, p.stderr


def test_env_and_exec_sign_anew_even_when_pgpass_holds_an_expired_token(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    assert cli("add", "prod", "--host", HOST, "--user", "alice").code == 0
    key = pgpass.Key(HOST, "5432", "alice", "alice")
    old = stale(HOST, 5432, "alice")
    put_stale_tokens(isolated_env, [(key, old)])
    before = int(time.time())
    r = cli("env", "prod")
    after = int(time.time())
    assert r.code == 0, r.err
    line = next(ln for ln in r.out.splitlines() if ln.startswith("export PGPASSWORD="))
    token = line.split("=", 1)[1].strip("'")
    info = tokeninfo.decode(token)
    assert info is not None and token != old
    assert before <= info.signed_at.timestamp() <= after  # X-Amz-Date is now
    r = cli("exec", "prod", "--", "sh", "-c", 'printf %s "$PGPASSWORD"')
    assert r.code == 0
    info = tokeninfo.decode(r.out)
    assert info is not None and info.expires_at > datetime.now(timezone.utc) + timedelta(minutes=14)
    # pgpass itself was left alone by env/exec
    found = pgpass.find((isolated_env / ".pgpass").read_bytes(), key)
    assert found is not None and found[1] == old
