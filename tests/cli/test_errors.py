"""Errors a new user meets: each says what is wrong and how to fix it (issue 12, item 8)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Cli

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"


def test_aws_profile_from_the_environment_is_named_with_the_fix(cli: Cli) -> None:
    r = cli("token", "--hostname", HOST, "--username", "alice", env={"AWS_PROFILE": "nope"})
    assert r.code != 0
    assert "profile 'nope' (from AWS_PROFILE in the environment)" in r.err
    assert "unset AWS_PROFILE or correct it" in r.err
    assert "profile 'default'" not in r.err


def test_did_you_mean_for_verbs_options_and_choices(cli: Cli) -> None:
    r = cli("refesh")
    assert r.code == 2 and "did you mean 'refresh'?" in r.err
    r = cli("--config", "x.toml", "refresh", "--forse")
    assert r.code == 2 and "did you mean --force?" in r.err
    r = cli("schedule", "instal")
    assert r.code == 2 and "did you mean 'install'?" in r.err
    r = cli("add", "x", "--host", HOST, "--user", "u", "--hostadr", "127.0.0.1")
    assert r.code == 2 and "did you mean --hostaddr?" in r.err


def test_did_you_mean_for_config_keys(cli: Cli, isolated_env: Path) -> None:
    cfg = isolated_env / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f'[services.prod]\nhost = "{HOST}"\nuser = "alice"\nhostadr = "127.0.0.1"\n')
    r = cli("status")  # the invalid service is reported in its row (exit 1); the others still show
    assert r.code == 1 and "unknown key 'hostadr' (did you mean 'hostaddr'?" in r.out
    r = cli("refresh")
    assert r.code == 1 and "unknown key 'hostadr' (did you mean 'hostaddr'?" in r.err


def test_usage_errors_on_a_verb_point_at_its_help(cli: Cli) -> None:
    r = cli("refresh", "--bogus")
    assert r.code == 2 and "(see `pgiam refresh --help`)" in r.err
    r = cli("--config", "c.toml", "status", "--bogus")
    assert r.code == 2 and "(see `pgiam status --help`)" in r.err
    r = cli("schedule")
    assert r.code == 2 and "(see `pgiam schedule --help`)" in r.err


def test_bare_pgiam_prints_short_usage(cli: Cli) -> None:
    r = cli()
    assert r.code == 2 and r.out == ""
    assert r.err.startswith("usage: pgiam ") and "pgiam --help" in r.err
    assert "required" not in r.err and len(r.err.splitlines()) <= 6


def test_token_errors_name_no_service_called_token(cli: Cli) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on: the Redshift API is unreachable
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    cli.static_keys()
    r = cli("token", "--kind", "redshift", "--hostname", "analytics.abc123xyz.us-east-1.redshift.amazonaws.com",
            "--username", "alice", env={"AWS_ENDPOINT_URL": dead})
    assert r.code == 1 and "GetClusterCredentials for cluster 'analytics'" in r.err
    assert "service 'token'" not in r.err
