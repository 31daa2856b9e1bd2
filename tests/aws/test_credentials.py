"""Every boto3 credential source through the public CLI and botocore's real chain (no patching).

Tokens are checked by the independent SigV4 verifier (tests/pg/sigv4_check.py) with the secret the
source handed out, and for STS-issued credentials also by the real PostgreSQL rig.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

from tests.aws_stubs import (  # noqa: F401 - fixtures
    LocalServer,
    Request,
    iso_in,
    json_reply,
    local_server,
    moto_secret_lookup,
    moto_url,
)
from tests.conftest import TEST_KEY_ID, TEST_SECRET, Cli
from tests.e2e_helpers import add_args, psql_service
from tests.pg.rig import Rig
from tests.pg.sigv4_check import Credentials, TokenRejected, verify_presigned

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"
ROLE_ARN = "arn:aws:iam::123456789012:role/dbrole"


def aws_config(home: Path, text: str) -> None:
    (home / ".aws").mkdir(exist_ok=True)
    (home / ".aws" / "config").write_text(text)


def check(token: str, lookup: Callable[[str], Credentials | None], user: str = "alice") -> str:
    """Verify an RDS token independently; returns the access key id it was signed with."""
    info = verify_presigned(
        token,
        service="rds-db",
        expected_host=f"{HOST}:5432",
        action="connect",
        lookup=lookup,
        now=time.time(),
        region="us-west-2",
        expected_params={"DBUser": user},
    )
    return info.access_key_id


def token(cli: Cli, *extra: str, env: dict[str, str] | None = None) -> str:
    r = cli("token", "--hostname", HOST, "--username", "alice", *extra, env=env)
    assert r.code == 0, r.err
    return r.out.strip()


def pgpass_password(home: Path) -> str:
    line = next(x for x in (home / ".pgpass").read_text().splitlines() if "X-Amz" in x)
    return line.split(":", 4)[4].replace("\\:", ":").replace("\\\\", "\\")


# --------------------------------------------------------------------------- static keys


def test_static_env_keys(cli: Cli) -> None:
    cli.static_keys()
    tok = token(cli)
    assert check(tok, {TEST_KEY_ID: (TEST_SECRET, None)}.get) == TEST_KEY_ID
    # an empty AWS_SESSION_TOKEN is no session token: never signed in as `X-Amz-Security-Token=`
    tok = token(cli, env={"AWS_SESSION_TOKEN": ""})
    assert "X-Amz-Security-Token" not in tok
    check(tok, {TEST_KEY_ID: (TEST_SECRET, None)}.get)
    tok = token(cli, env={"AWS_SESSION_TOKEN": "sess/tok+en=="})
    assert "X-Amz-Security-Token=sess%2Ftok%2Ben%3D%3D&" in tok
    check(tok, {TEST_KEY_ID: (TEST_SECRET, "sess/tok+en==")}.get)


def test_profile_with_static_keys(cli: Cli, isolated_env: Path) -> None:
    aws_config(
        isolated_env,
        "[profile keys]\naws_access_key_id = AKIDPROFILE00000001\naws_secret_access_key = prof-secret\n",
    )
    (isolated_env / ".aws" / "credentials").write_text(
        "[credfile]\naws_access_key_id = AKIDCREDFILE0000001\naws_secret_access_key = cf-secret\n"
    )
    keys = {"AKIDPROFILE00000001": ("prof-secret", None), "AKIDCREDFILE0000001": ("cf-secret", None)}
    assert check(token(cli, "--profile", "keys"), keys.get) == "AKIDPROFILE00000001"
    assert check(token(cli, env={"AWS_PROFILE": "keys"}), keys.get) == "AKIDPROFILE00000001"
    assert check(token(cli, "--profile", "credfile"), keys.get) == "AKIDCREDFILE0000001"
    # `profile =` in the pgiam config
    cfg = isolated_env / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f'[services.db]\nhost = "{HOST}"\nuser = "alice"\nprofile = "keys"\n')
    r = cli("refresh")
    assert r.code == 0, r.err
    assert check(pgpass_password(isolated_env), keys.get) == "AKIDPROFILE00000001"


def test_unknown_profile_names_it(cli: Cli) -> None:
    r = cli("token", "--hostname", HOST, "--username", "alice", "--profile", "nosuch")
    assert r.code == 1
    assert "profile 'nosuch'" in r.err and "aws configure --profile nosuch" in r.err
    assert r.err.count("\n") == 1


# --------------------------------------------------------------------------- STS (moto)


@pytest.fixture(autouse=True)
def modern_libpq(cli: Cli) -> None:
    """Pin the libpq version pgiam's line-length rules see (not under test here); rig tests unpin it."""
    cli.env["PGIAM_LIBPQ_VERSION"] = "16.4"


@pytest.fixture
def sts(cli: Cli, moto_url: str) -> str:  # noqa: F811
    cli.env.update(AWS_ENDPOINT_URL_STS=moto_url)
    return moto_url


def test_assume_role_profile(cli: Cli, isolated_env: Path, sts: str) -> None:
    aws_config(
        isolated_env,
        f"[profile base]\naws_access_key_id = {TEST_KEY_ID}\n"
        f"aws_secret_access_key = {TEST_SECRET}\n"
        f"[profile role]\nrole_arn = {ROLE_ARN}\nsource_profile = base\nregion = us-west-2\n",
    )
    tok = token(cli, "--profile", "role")
    akid = check(tok, moto_secret_lookup)
    assert akid.startswith("ASIA") and "X-Amz-Security-Token=" in tok


def test_missing_source_profile_is_explained(cli: Cli, isolated_env: Path, sts: str) -> None:
    aws_config(isolated_env, f"[profile role]\nrole_arn = {ROLE_ARN}\nregion = us-west-2\n")
    r = cli("token", "--hostname", HOST, "--username", "alice", "--profile", "role")
    assert r.code == 1
    assert "profile 'role'" in r.err and "add `source_profile`" in r.err


def test_web_identity(cli: Cli, isolated_env: Path, sts: str) -> None:
    jwt = isolated_env / "token.jwt"
    jwt.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwb2QifQ.c2ln")
    env = {
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(jwt),
        "AWS_ROLE_ARN": ROLE_ARN,
        "AWS_ROLE_SESSION_NAME": "pod-1",
        "AWS_REGION": "us-west-2",
    }
    tok = token(cli, env=env)
    assert check(tok, moto_secret_lookup).startswith("ASIA")


@pytest.mark.pg
def test_assume_role_and_web_identity_end_to_end(rig: Rig, cli: Cli, isolated_env: Path, sts: str) -> None:
    """The real PostgreSQL accepts tokens signed with credentials moto's STS issued."""
    del cli.env["PGIAM_LIBPQ_VERSION"]  # the real psql decides here
    rig.create_role("jane_doe")
    rig.secret_lookup = moto_secret_lookup
    aws_config(
        isolated_env,
        f"[profile base]\naws_access_key_id = {TEST_KEY_ID}\n"
        f"aws_secret_access_key = {TEST_SECRET}\n"
        f"[profile role]\nrole_arn = {ROLE_ARN}\nsource_profile = base\nregion = us-west-2\n",
    )
    r = cli(*add_args(rig, "viarole", "jane_doe", "postgres", "--profile", "role"))
    assert r.code == 0, r.err
    p = psql_service(rig, isolated_env, "viarole")
    assert p.returncode == 0 and p.stdout.strip() == "jane_doe", p.stderr
    accepted = rig.verifier_events()[-1]
    assert accepted.accepted
    assert accepted.password_sha256 == hashlib.sha256(pgpass_password(isolated_env).encode()).hexdigest()
    state = json.loads(next((isolated_env / ".local" / "state").rglob("*.json")).read_text())
    assert state["services"]["viarole"]["credential_source"] == "assume-role"

    jwt = isolated_env / "token.jwt"
    jwt.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwb2QifQ.c2ln")
    cli.env.update(AWS_WEB_IDENTITY_TOKEN_FILE=str(jwt), AWS_ROLE_ARN=ROLE_ARN, AWS_ROLE_SESSION_NAME="pod-1")
    assert cli("remove", "viarole").code == 0
    r = cli(*add_args(rig, "irsa", "jane_doe"))
    assert r.code == 0, r.err
    p = psql_service(rig, isolated_env, "irsa")
    assert p.returncode == 0 and p.stdout.strip() == "jane_doe", p.stderr
    state = json.loads(next((isolated_env / ".local" / "state").rglob("*.json")).read_text())
    assert state["services"]["irsa"]["credential_source"] == "assume-role-with-web-identity"


# --------------------------------------------------------------------------- credential_process


@pytest.fixture
def process_profile(isolated_env: Path) -> Iterator[Callable[[str], None]]:
    """Profile `proc` whose credential_process prints the Expiration set by the returned function
    and appends a line to ./calls per invocation."""
    script = isolated_env / "creds.sh"
    calls = isolated_env / "calls"
    expiration = isolated_env / "expiration"
    script.write_text(
        "#!/bin/sh\n"
        f"echo call >> '{calls}'\n"
        f'printf \'{{"Version": 1, "AccessKeyId": "ASIAPROCESS00000001", "SecretAccessKey": '
        f'"proc-secret", "SessionToken": "proc-session", "Expiration": "%s"}}\' "$(cat \'{expiration}\')"\n'
    )
    script.chmod(0o755)
    aws_config(isolated_env, f"[profile proc]\ncredential_process = {script}\n")

    def set_expiration(value: str) -> None:
        expiration.write_text(value)

    yield set_expiration


PROC_KEYS = {"ASIAPROCESS00000001": ("proc-secret", "proc-session")}


def calls(home: Path) -> int:
    path = home / "calls"
    return len(path.read_text().splitlines()) if path.exists() else 0


def write_config(home: Path, *names: str, profile: str = "proc") -> None:
    cfg = home / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(
        "".join(f'[services.{n}]\nhost = "{HOST}"\nuser = "{n}"\nprofile = "{profile}"\n' for n in names)
    )


def status(cli: Cli) -> dict[str, dict[str, str]]:
    r = cli("status", "--json")
    assert r.code in (0, 1), r.err  # 1: some service is expired, missing or in error
    return {row["name"]: row for row in json.loads(r.out)}


def test_short_lived_process_credentials_cap_the_token(
    cli: Cli, isolated_env: Path, process_profile: Callable[[str], None]
) -> None:
    expiry = iso_in(180)
    process_profile(expiry)
    write_config(isolated_env, "alice")
    r = cli("refresh")
    assert r.code == 0, r.err
    assert f"valid until {expiry}" in r.out  # not signing time + 900 s
    assert calls(isolated_env) == 1  # botocore's early-refresh window did not run it twice
    check(pgpass_password(isolated_env), PROC_KEYS.get)
    row = status(cli)["alice"]
    assert row["state"] == "expiring" and row["expires_at"] == expiry
    # a plain refresh renews it (the entry is inside the refresh window), with new credentials
    later = iso_in(3600)
    process_profile(later)
    r = cli("refresh")
    assert r.code == 0 and "alice: refreshed" in r.out, r.err
    assert calls(isolated_env) == 2
    row = status(cli)["alice"]
    assert row["state"] == "fresh" and row["expires_at"] != expiry


def test_expired_process_credentials_fail_and_keep_the_old_entry(
    cli: Cli, isolated_env: Path, process_profile: Callable[[str], None]
) -> None:
    process_profile(iso_in(3600))
    write_config(isolated_env, "alice")
    assert cli("refresh").code == 0
    before = (isolated_env / ".pgpass").read_bytes()
    process_profile(iso_in(-120))
    r = cli("refresh", "--force")
    assert r.code == 1
    assert "profile 'proc'" in r.err and "expired" in r.err and r.err.count("\n") == 1
    assert (isolated_env / ".pgpass").read_bytes() == before  # the still-valid token stays
    row = status(cli)["alice"]
    assert row["state"] == "fresh"
    check(pgpass_password(isolated_env), PROC_KEYS.get)


def test_a_token_whose_credentials_expired_is_expired(
    cli: Cli, isolated_env: Path, process_profile: Callable[[str], None]
) -> None:
    """Six minutes on, the token itself still has nine minutes, but its credentials (five) are gone."""
    assert shutil.which("faketime"), "faketime is needed (apt-get install faketime)"
    process_profile(iso_in(300))
    write_config(isolated_env, "alice")
    assert cli("refresh").code == 0
    assert status(cli)["alice"]["state"] == "expiring"
    later = subprocess.run(
        ["faketime", "-f", "+360s", sys.executable, "-m", "pgiam", "status", "--json"],
        capture_output=True,
        text=True,
        env=cli.environ(),
        timeout=60,
        check=False,
    )
    assert later.returncode == 1, later.stderr  # expired: status exits 1
    row = json.loads(later.stdout)[0]
    assert row["state"] == "expired"


def test_credentials_resolved_once_per_profile_per_run(
    cli: Cli, isolated_env: Path, process_profile: Callable[[str], None]
) -> None:
    process_profile(iso_in(3600))
    write_config(isolated_env, "alice", "bob", "carol")
    r = cli("refresh")
    assert r.code == 0 and r.out.count("refreshed") == 3, r.err
    assert calls(isolated_env) == 1
    r = cli("refresh", "--force")
    assert r.code == 0 and calls(isolated_env) == 2
    r = cli("refresh")  # all fresh: no credentials needed at all
    assert r.code == 0 and calls(isolated_env) == 2


# --------------------------------------------------------------------------- container, SSO


def test_container_credentials(cli: Cli, local_server: Callable[..., LocalServer]) -> None:  # noqa: F811
    expiry = iso_in(1800)

    def handler(req: Request) -> tuple[int, str, bytes]:
        if req.headers.get("authorization") != "container-auth":
            return json_reply({"message": "denied"}, 403)
        return json_reply(
            {
                "AccessKeyId": "ASIACONTAINER000001",
                "SecretAccessKey": "cont-secret",
                "Token": "cont-session",
                "Expiration": expiry,
            }
        )

    server = local_server(handler)
    env = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/v2/credentials",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "container-auth",
    }
    tok = token(cli, "-v", env=env)
    assert check(tok, {"ASIACONTAINER000001": ("cont-secret", "cont-session")}.get) == "ASIACONTAINER000001"
    assert [r.path for r in server.requests] == ["/v2/credentials"]


SSO_CONFIG = """[profile sso]
sso_start_url = https://example.awsapps.com/start
sso_region = us-west-2
sso_account_id = 123456789012
sso_role_name = dbrole
[profile ssosession]
sso_session = corp
sso_account_id = 123456789012
sso_role_name = dbrole
[sso-session corp]
sso_start_url = https://example.awsapps.com/start
sso_region = us-west-2
"""


def test_sso_profiles_with_a_cached_token(
    cli: Cli,
    isolated_env: Path,
    local_server: Callable[..., LocalServer],  # noqa: F811
) -> None:
    def handler(req: Request) -> tuple[int, str, bytes]:
        if req.headers.get("x-amz-sso_bearer_token") != "cached-sso-access-token":
            return json_reply({"message": "Session token not found or invalid"}, 401)
        return json_reply(
            {
                "roleCredentials": {
                    "accessKeyId": "ASIASSO000000000001",
                    "secretAccessKey": "sso-secret",
                    "sessionToken": "sso-session",
                    "expiration": int((time.time() + 3600) * 1000),
                }
            }
        )

    server = local_server(handler)
    cli.real = True  # each run a new process: botocore remembers an SSO token lookup for the process's life
    cli.env["AWS_ENDPOINT_URL_SSO"] = server.url
    aws_config(isolated_env, SSO_CONFIG)
    cache = isolated_env / ".aws" / "sso" / "cache"
    cache.mkdir(parents=True)
    r = cli("token", "--hostname", HOST, "--username", "alice", "--profile", "sso")
    assert r.code == 1 and "aws sso login --profile sso" in r.err  # no cached token yet
    for key in ("https://example.awsapps.com/start", "corp"):
        (cache / (hashlib.sha1(key.encode()).hexdigest() + ".json")).write_text(
            json.dumps(
                {
                    "startUrl": "https://example.awsapps.com/start",
                    "region": "us-west-2",
                    "accessToken": "cached-sso-access-token",
                    "expiresAt": iso_in(3600),
                }
            )
        )
    keys = {"ASIASSO000000000001": ("sso-secret", "sso-session")}
    for profile in ("sso", "ssosession"):
        assert check(token(cli, "--profile", profile), keys.get) == "ASIASSO000000000001"
    assert all(r.path.startswith("/federation/credentials?") for r in server.requests)


def test_no_credentials_at_all(cli: Cli) -> None:
    r = cli("token", "--hostname", HOST, "--username", "alice")
    assert r.code == 1 and "no AWS credentials found" in r.err


def test_verifier_rejects_what_it_should(cli: Cli) -> None:
    """The independent check can fail: a wrong secret or a wrong user is rejected."""
    cli.static_keys()
    tok = token(cli)
    with pytest.raises(TokenRejected):
        check(tok, {TEST_KEY_ID: ("other-secret", None)}.get)
    with pytest.raises(TokenRejected):
        check(tok, {TEST_KEY_ID: (TEST_SECRET, None)}.get, user="bob")
    assert os.environ.get("AWS_ACCESS_KEY_ID") is None
