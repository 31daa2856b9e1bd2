"""`pgiam check-credentials`: one STS GetCallerIdentity per distinct profile (against moto)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.aws_stubs import moto_url  # noqa: F401
from tests.conftest import TEST_KEY_ID, TEST_SECRET, Cli

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"


def setup(home: Path, cli: Cli, sts: str) -> None:
    cli.env.update(AWS_ENDPOINT_URL_STS=sts, AWS_DEFAULT_REGION="us-west-2")
    (home / ".aws").mkdir()
    (home / ".aws" / "config").write_text(
        f"[profile base]\naws_access_key_id = {TEST_KEY_ID}\naws_secret_access_key = {TEST_SECRET}\n"
        "[profile role]\nrole_arn = arn:aws:iam::123456789012:role/dbrole\nsource_profile = base\n"
        "[profile broken]\nrole_arn = arn:aws:iam::123456789012:role/dbrole\n"
    )
    cfg = home / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(
        f'[services.a]\nhost = "{HOST}"\nuser = "a"\nprofile = "role"\n'
        f'[services.b]\nhost = "{HOST}"\nuser = "b"\nprofile = "role"\n'
        f'[services.c]\nhost = "{HOST}"\nuser = "c"\nprofile = "base"\n'
        f'[services.d]\nhost = "{HOST}"\nuser = "d"\nprofile = "broken"\n'
    )


def test_one_identity_per_profile(cli: Cli, isolated_env: Path, moto_url: str) -> None:  # noqa: F811
    setup(isolated_env, cli, moto_url)
    r = cli("check-credentials", "a", "b", "c")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert len(lines) == 2  # two distinct profiles for three services
    assert lines[0].startswith("role: arn:aws:sts::123456789012:assumed-role/dbrole/"), r.out
    assert "source assume-role, expires 20" in lines[0] and lines[0].endswith("[a, b]")
    assert (
        lines[1].startswith("base: arn:aws:") and "long-lived keys" in lines[1] and lines[1].endswith("[c]")
    )
    rows = json.loads(cli("check-credentials", "--json", "a").out)
    assert rows[0]["profile"] == "role" and rows[0]["account"] == "123456789012" and rows[0]["expires_at"]


def test_a_broken_profile_fails_with_its_fix(cli: Cli, isolated_env: Path, moto_url: str) -> None:  # noqa: F811
    setup(isolated_env, cli, moto_url)
    r = cli("check-credentials")
    assert r.code == 1
    assert "profile 'broken'" in r.err and "source_profile" in r.err
    assert "role: arn:" in r.out and "base: arn:" in r.out  # the others are still checked


def test_unknown_service_is_a_usage_error(cli: Cli, isolated_env: Path, moto_url: str) -> None:  # noqa: F811
    setup(isolated_env, cli, moto_url)
    r = cli("check-credentials", "nosuch")
    assert r.code == 2 and "nosuch" in r.err


def test_missing_region_for_sts_is_explained(cli: Cli, isolated_env: Path, moto_url: str) -> None:  # noqa: F811
    setup(isolated_env, cli, moto_url)
    del cli.env["AWS_DEFAULT_REGION"]
    r = cli("check-credentials", "a")
    assert r.code == 1 and "profile 'role'" in r.err and "set `region =`" in r.err


def test_sts_unreachable_is_not_missing_credentials(cli: Cli, isolated_env: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    setup(isolated_env, cli, dead)
    r = cli("check-credentials", "c")
    assert r.code == 1
    assert "profile 'base' has credentials (config-file)" in r.err and "STS is unreachable" in r.err, r.err
    assert "cannot get AWS credentials" not in r.err
    cli.env["AWS_CONFIG_FILE"] = str(isolated_env / "nothing")
    r = cli("check-credentials", "c")
    assert r.code == 1 and "cannot get AWS credentials for profile 'base'" in r.err and "unreachable" not in r.err
