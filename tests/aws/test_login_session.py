"""`aws login` sessions (login_session profiles): botocore's own LoginProvider, served from its token cache,
refreshed against a local AWS Sign-In stand-in (AWS_ENDPOINT_URL_SIGNIN) with a real DPoP proof (awscrt);
without botocore's crt support, one line naming pgiam[crt]."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.aws_stubs import iso_in
from tests.cloud_stubs import SigninEndpoint, hide_modules, login_cache_file, write_login_session
from tests.conftest import Cli
from tests.e2e_helpers import add_args, psql_service
from tests.pg.rig import Rig

SESSION_NAME = "arn:aws:iam::123456789012:user/alice"
CACHED = ("ASIALOGINCACHED00001", "login-cached-secret/key+1", "login-cached-session-token")
REFRESHED = ("ASIALOGINREFRESHED01", "login-refreshed-secret/key+2", "login-refreshed-session-token")


def login_profile(home: Path, expires_in: float) -> Path:
    aws = home / ".aws"
    aws.mkdir(exist_ok=True)
    (aws / "config").write_text(f"[profile web]\nlogin_session = {SESSION_NAME}\nregion = us-west-2\n")
    key, secret, token = CACHED
    return write_login_session(aws / "login" / "cache", SESSION_NAME, access_key=key, secret=secret,
                               session_token=token, expires_at=iso_in(expires_in))


@pytest.fixture
def signin() -> Iterator[SigninEndpoint]:
    endpoint = SigninEndpoint(*REFRESHED).start()
    yield endpoint
    endpoint.stop()


@pytest.mark.pg
def test_cached_login_session_signs_tokens_the_rig_accepts(rig: Rig, cli: Cli, isolated_env: Path,
                                                           signin: SigninEndpoint) -> None:
    login_profile(isolated_env, expires_in=14 * 60)
    rig.create_role("jane_doe")
    rig.register_credentials(*CACHED)
    cli.env["AWS_ENDPOINT_URL_SIGNIN"] = signin.url  # would be used only for a refresh
    r = cli(*add_args(rig, "web", "jane_doe"), "--profile", "web")
    assert r.code == 0, r.err
    p = psql_service(rig, isolated_env, "web")
    assert p.returncode == 0 and p.stdout.strip() == "jane_doe", p.stderr
    assert signin.dpop_seen == []  # still valid: served from the cache, no network
    st = json.loads(cli("status", "--json", "--details").out)[0]
    assert st["credential_source"] == "login"
    # tokens never outlive the session's credentials
    exp = st["expires_at"]
    assert exp is not None and exp <= iso_in(14 * 60 + 2)
    doc = {c["check"]: c for c in json.loads(cli("doctor", "web", "--json").out) if c["service"] == "web"}
    assert "login" in doc["credentials"]["verdict"] and "profile 'web'" in doc["credentials"]["verdict"]


@pytest.mark.pg
def test_expired_login_session_is_refreshed_through_signin(rig: Rig, cli: Cli, isolated_env: Path,
                                                           signin: SigninEndpoint) -> None:
    cache = login_profile(isolated_env, expires_in=-60)
    rig.create_role("jane_doe")
    rig.register_credentials(*REFRESHED)
    cli.env["AWS_ENDPOINT_URL_SIGNIN"] = signin.url
    r = cli(*add_args(rig, "web", "jane_doe"), "--profile", "web")
    assert r.code == 0, r.err
    assert len(signin.dpop_seen) == 1  # one CreateOAuth2Token call, with an ES256 DPoP proof
    saved = json.loads(cache.read_text())
    assert saved["accessToken"]["accessKeyId"] == REFRESHED[0] and saved["refreshToken"] == "stand-in-refresh-2"
    p = psql_service(rig, isolated_env, "web")
    assert p.returncode == 0 and p.stdout.strip() == "jane_doe", p.stderr


def test_without_crt_support_one_line_names_the_extra(cli: Cli, isolated_env: Path) -> None:
    login_profile(isolated_env, expires_in=14 * 60)
    env = hide_modules(isolated_env.parent / "shim", "awscrt")
    r = cli("token", "--hostname", "db1.abc123xyz.us-west-2.rds.amazonaws.com", "--username", "u",
            "--profile", "web", env=env)
    assert r.code == 1
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and "pip install 'pgiam[crt]'" in lines[0] and "aws login" in lines[0], r.err
    assert r.out == ""


def test_missing_login_cache_says_to_log_in_again(cli: Cli, isolated_env: Path) -> None:
    login_cache_file(isolated_env / ".aws" / "login" / "cache", SESSION_NAME)
    login_profile(isolated_env, expires_in=600).unlink()
    r = cli("token", "--hostname", "db1.abc123xyz.us-west-2.rds.amazonaws.com", "--username", "u",
            "--profile", "web")
    assert r.code == 1 and "aws login --profile web" in r.err and r.err.count("\n") == 1, r.err
