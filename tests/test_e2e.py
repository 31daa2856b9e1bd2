"""End to end through the public CLI: real pgiam, real psql, a real IAM-checking PostgreSQL."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pgiam.aws import rds
from tests.cloud_stubs import hide_modules
from tests.conftest import TEST_KEY_ID, TEST_SECRET, Cli
from tests.e2e_helpers import add_args, prepare, psql_service
from tests.helpers_fs import claim
from tests.pg.rig import Rig

pytestmark = pytest.mark.pg


def pgpass_token(home: Path, host: str) -> str:
    for line in (home / ".pgpass").read_text().splitlines():
        if line.startswith(host.replace(":", "\\:") + ":"):
            fields = line.split(":", 4)
            return fields[4].replace("\\:", ":").replace("\\\\", "\\")
    raise AssertionError("no pgiam entry in ~/.pgpass")


def test_add_then_psql_service_connects(rig: Rig, cli: Cli, isolated_env: Path) -> None:
    prepare(rig, cli)
    r = cli(*add_args(rig, "demo", "jane_doe"))
    assert r.code == 0, r.err
    assert "demo: refreshed" in r.out
    p = psql_service(rig, isolated_env, "demo")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "jane_doe"
    # the verifier accepted exactly the token pgiam wrote
    token = pgpass_token(isolated_env, rig.host)
    accepted = [e for e in rig.verifier_events() if e.accepted]
    assert accepted and accepted[-1].password_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert (isolated_env / ".pgpass").stat().st_mode & 0o777 == 0o600
    stanza = (isolated_env / ".pg_service.conf").read_text()
    assert "[demo]\n" in stanza and f"hostaddr={rig.hostaddr}\n" in stanza and f"port={rig.port}\n" in stanza
    assert "X-Amz" not in stanza and "passfile=" not in stanza


def test_refresh_is_a_noop_when_fresh(rig: Rig, cli: Cli, isolated_env: Path) -> None:
    prepare(rig, cli)
    assert cli(*add_args(rig, "demo", "jane_doe")).code == 0
    files = [isolated_env / ".pgpass", isolated_env / ".pg_service.conf"]
    before = [(f.read_bytes(), f.stat().st_mtime_ns) for f in files]
    r = cli("refresh")
    assert r.code == 0 and r.out == "" and r.err == ""
    assert [(f.read_bytes(), f.stat().st_mtime_ns) for f in files] == before
    r = cli("--verbose", "refresh")
    assert "demo: fresh" in r.out
    r = cli("refresh", "--force")
    assert r.code == 0 and "demo: refreshed" in r.out


def test_expired_token_is_detected_and_replaced(rig: Rig, cli: Cli, isolated_env: Path) -> None:
    prepare(rig, cli)
    assert cli(*add_args(rig, "demo", "jane_doe")).code == 0
    # put a token signed 20 minutes ago in place of the fresh one
    old = rds.sign(host=rig.host, port=rig.signed_port, region="us-west-2", user="jane_doe",
                   access_key=TEST_KEY_ID, secret_key=TEST_SECRET, session_token=None,
                   now=datetime.now(timezone.utc) - timedelta(minutes=20))
    pgpass = isolated_env / ".pgpass"
    fresh = pgpass_token(isolated_env, rig.host)
    pgpass.write_text(pgpass.read_text().replace(fresh.replace(":", "\\:"), old.replace(":", "\\:")))
    claim(isolated_env / ".local" / "state" / "pgiam" / "state.json", old)  # as if pgiam had written it
    assert psql_service(rig, isolated_env, "demo").returncode != 0  # the verifier refuses it
    assert rig.verifier_events()[-1].reason.startswith("expired") or "expired" in rig.verifier_events()[-1].reason
    st = cli("status", "--json")
    assert '"state": "expired"' in st.out
    r = cli("refresh")
    assert r.code == 0 and "demo: refreshed" in r.out
    assert pgpass_token(isolated_env, rig.host) != old
    p = psql_service(rig, isolated_env, "demo")
    assert p.returncode == 0 and p.stdout.strip() == "jane_doe", p.stderr


FOREIGN_PGPASS = (
    b"# my passwords\n"
    b"*:*:*:*:wildcard-old-password\n"
    b"other.example.com:5432:app:bob:s3cr\\:et\r\n"
    b"\n"
    b"latin1-host-\xe9:5432:*:*:pw\n"
    b"short:line:only\n"
    b"no-newline-at-end:5432:db:u:pw"
)
FOREIGN_SERVICES = (
    b"# my services\n"
    b"[legacy]\n"
    b"host=legacy.example.com\n"
    b"# keep me\n"
    b"dbname=old\n"
    b"\n"
    b"[crlf]\r\n"
    b"host=crlf.example.com\r\n"
)


def test_foreign_lines_survive_and_remove_restores(rig: Rig, cli: Cli, isolated_env: Path) -> None:
    prepare(rig, cli)
    pgpass = isolated_env / ".pgpass"
    services = isolated_env / ".pg_service.conf"
    pgpass.write_bytes(FOREIGN_PGPASS)
    pgpass.chmod(0o600)
    services.write_bytes(FOREIGN_SERVICES)
    config = isolated_env / ".config" / "pgiam" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('# keep this comment\n[defaults]\nregion = "us-west-2"\n')
    before = {p: p.read_bytes() for p in (pgpass, services, config)}

    r = cli(*add_args(rig, "demo", "jane_doe"))
    assert r.code == 0, r.err
    # the wildcard line comes first in the file, yet psql uses pgiam's entry
    p = psql_service(rig, isolated_env, "demo")
    assert p.returncode == 0 and p.stdout.strip() == "jane_doe", p.stderr
    after = pgpass.read_bytes()
    foreign_lines = FOREIGN_PGPASS.splitlines(keepends=True)
    kept = [line for line in after.splitlines(keepends=True) if b"X-Amz" not in line]
    assert kept[:-1] == foreign_lines[:-1] and kept[-1].rstrip(b"\n") == foreign_lines[-1]
    assert after.index(b"X-Amz") < after.index(b"*:*:*:*:wildcard")
    assert services.read_bytes().startswith(FOREIGN_SERVICES)

    r = cli("remove", "demo")
    assert r.code == 0, r.err
    for path, data in before.items():
        if path == pgpass:
            # the missing final newline had to be added before pgiam's line went in; all else is back
            assert path.read_bytes() in (data, data + b"\n")
        else:
            assert path.read_bytes() == data, path


def test_remove_restores_files_exactly(rig: Rig, cli: Cli, isolated_env: Path) -> None:
    prepare(rig, cli)
    pgpass = isolated_env / ".pgpass"
    services = isolated_env / ".pg_service.conf"
    pgpass.write_bytes(b"#c\nh:1:d:u:p\n")
    pgpass.chmod(0o600)
    services.write_bytes(b"[x]\nhost=y\n")
    before = (pgpass.read_bytes(), services.read_bytes())
    assert cli(*add_args(rig, "demo", "jane_doe")).code == 0
    assert cli("remove", "demo").code == 0
    assert (pgpass.read_bytes(), services.read_bytes()) == before
    assert "demo" not in cli("status", "--json").out


def test_remove_when_files_did_not_exist(rig: Rig, cli: Cli, isolated_env: Path) -> None:
    prepare(rig, cli)
    assert cli(*add_args(rig, "demo", "jane_doe")).code == 0
    assert cli("remove", "demo").code == 0
    assert not (isolated_env / ".pgpass").exists()
    assert not (isolated_env / ".pg_service.conf").exists()


def test_credentials_from_aws_config_profile(rig: Rig, cli: Cli, isolated_env: Path) -> None:
    rig.create_role("jane_doe")
    rig.register_credentials("AKIDPROFILEKEY000001", "profile-secret")
    aws = isolated_env / ".aws"
    aws.mkdir()
    (aws / "config").write_text(
        "[profile dbprof]\naws_access_key_id = AKIDPROFILEKEY000001\n"
        "aws_secret_access_key = profile-secret\nregion = us-west-2\n"
    )
    r = cli(*add_args(rig, "demo", "jane_doe", "postgres", "--profile", "dbprof"))
    assert r.code == 0, r.err
    p = psql_service(rig, isolated_env, "demo")
    assert p.returncode == 0 and p.stdout.strip() == "jane_doe", p.stderr
    # and via AWS_PROFILE with no profile in the pgiam config
    assert cli("remove", "demo").code == 0
    r = cli(*add_args(rig, "demo2", "jane_doe"), env={"AWS_PROFILE": "dbprof"})
    assert r.code == 0, r.err
    assert psql_service(rig, isolated_env, "demo2").returncode == 0


def test_long_session_token_passes_whole(rig: Rig, cli: Cli, isolated_env: Path) -> None:
    rig.create_role("jane_doe")
    session = "FwoGZXIvYXdzE" + "A" * 1800 + "/+=="
    rig.register_credentials(TEST_KEY_ID, TEST_SECRET, session)
    cli.static_keys(token=session)
    assert cli(*add_args(rig, "demo", "jane_doe")).code == 0
    token = pgpass_token(isolated_env, rig.host)
    assert len(token) > 2000
    p = psql_service(rig, isolated_env, "demo")
    assert p.returncode == 0, p.stderr
    assert rig.verifier_events()[-1].password_sha256 == hashlib.sha256(token.encode()).hexdigest()


def test_exec_and_env_hand_out_a_working_token(rig: Rig, cli: Cli, isolated_env: Path) -> None:
    prepare(rig, cli)
    assert cli(*add_args(rig, "demo", "jane_doe")).code == 0
    (isolated_env / ".pgpass").unlink()  # exec must not need the pgpass file
    r = cli("exec", "demo", "--", rig.psql_path, "-X", "-At", "-c", "select current_user")
    assert r.code == 0, r.err
    assert r.out.strip() == "jane_doe"
    assert not (isolated_env / ".pgpass").exists()
    r = cli("exec", "demo", "--", "sh", "-c", "exit 7")
    assert r.code == 7
    r = cli("env", "demo")
    assert r.code == 0
    lines = r.out.splitlines()
    assert lines[0] == "export PGSERVICE=demo"
    assert lines[-1].startswith("export PGPASSWORD=")
    script = r.out + f"\nexec {rig.psql_path} -X -At -c 'select current_user'\n"
    sh = subprocess.run(["sh", "-c", script], capture_output=True, text=True,
                        env={"HOME": str(isolated_env), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert sh.returncode == 0 and sh.stdout.strip() == "jane_doe", sh.stderr


def test_token_matches_aws_cli_byte_for_byte(cli: Cli, tmp_path: Path) -> None:
    import sys

    assert shutil.which("faketime"), "faketime is needed (apt-get install faketime; .ci/run does)"

    aws = Path(sys.executable).with_name("aws")
    assert aws.exists(), "the test extra installs awscli"
    env = cli.environ({"AWS_ACCESS_KEY_ID": TEST_KEY_ID, "AWS_SECRET_ACCESS_KEY": TEST_SECRET,
                       "AWS_SESSION_TOKEN": "IQoJb3JpZ2luX2VjE/long+token==", "FAKETIME": "2026-01-02 03:04:05",
                       "TZ": "UTC"})
    args = ["--hostname", "db1.abc123xyz.us-west-2.rds.amazonaws.com", "--port", "5432",
            "--region", "us-west-2", "--username", "we:ird\\us er"]
    ours = subprocess.run(["faketime", "-f", "2026-01-02 03:04:05", sys.executable, "-m", "pgiam", "token", *args],
                          capture_output=True, text=True, env=env, timeout=60)
    # the aws CLI as without botocore's crt support: its CRT signer orders the query differently
    nocrt = cli.environ(hide_modules(tmp_path / "nocrt", "awscrt"))
    theirs = subprocess.run(["faketime", "-f", "2026-01-02 03:04:05", sys.executable, str(aws), "rds",
                             "generate-db-auth-token", *args], capture_output=True, text=True,
                            env={**env, "PYTHONPATH": nocrt["PYTHONPATH"]}, timeout=120)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    assert "X-Amz-Date=20260102T030405Z" in theirs.stdout
    assert ours.stdout == theirs.stdout


def test_noop_refresh_fixes_a_group_readable_pgpass(rig: Rig, cli: Cli, isolated_env: Path) -> None:
    prepare(rig, cli)
    assert cli(*add_args(rig, "demo", "jane_doe")).code == 0
    pgpass = isolated_env / ".pgpass"
    pgpass.chmod(0o644)
    assert psql_service(rig, isolated_env, "demo").returncode != 0  # libpq ignores the whole file
    before = (pgpass.read_bytes(), pgpass.stat().st_mtime_ns)
    r = cli("refresh")
    assert r.code == 0
    assert "fixed to 0600" in r.err and len(r.err.strip().splitlines()) == 1
    assert pgpass.stat().st_mode & 0o777 == 0o600
    assert (pgpass.read_bytes(), pgpass.stat().st_mtime_ns) == before
    assert psql_service(rig, isolated_env, "demo").returncode == 0
