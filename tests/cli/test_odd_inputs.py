"""Secrets outside pgpass and odd environments, through the real CLI (issue 11, items 2 and 4).

Every refusal is one line on stderr, exit 2, and no file is created or changed.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from tests.conftest import Cli, Result
from tests.users import alice, run_as  # noqa: F401  (alice is a fixture)

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"


def files(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for p in sorted(home.rglob("*"))
            if p.is_file() and p.parent.name != "locks"}


def service_error(r: Result, verb: str, *needles: str) -> str:
    """An invalid service fails on its own (exit 1): `refresh` says why in one stderr line, `status` in
    the service's row."""
    if verb == "refresh":
        return one_line(r, 1, *needles)
    assert r.code == 1 and r.err == "", r
    assert all(n in r.out for n in needles), (needles, r.out)
    return r.out


def one_line(r: object, code: int, *needles: str) -> str:
    rc, err = r.code, r.err  # type: ignore[attr-defined]
    assert rc == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pgiam: error: "), err
    assert all(n in lines[0] for n in needles), err
    return str(lines[0])


def config(home: Path, text: str) -> Path:
    p = home / ".config" / "pgiam" / "config.toml"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def svc(extra: str = "", name: str = "s1") -> str:
    return f'[services.{name}]\nhost = "{HOST}"\nuser = "u1"\nsslmode = "require"\n{extra}'


# --- item 2: no secret outside pgpass -----------------------------------------------------------------


@pytest.mark.parametrize("key", ["sslpassword", "password", "oauth_client_secret"])
def test_set_refuses_secret_keywords(cli: Cli, isolated_env: Path, key: str) -> None:
    cli.static_keys()
    before = files(isolated_env)
    r = cli("add", "s1", "--host", HOST, "--user", "u1", "--sslmode", "require", "--set", f"{key}=hunter2")
    line = one_line(r, 2, key, "secret")
    assert "hunter2" not in line
    assert files(isolated_env) == before


def test_config_libpq_table_refuses_secret_keywords(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    config(isolated_env, svc('libpq = { sslpassword = "hunter2", application_name = "x" }\n'))
    before = files(isolated_env)
    for verb in (["refresh"], ["status"]):
        line = service_error(cli(*verb), verb[0], "libpq.sslpassword", "secret")
        assert "hunter2" not in line
    assert files(isolated_env) == before
    assert not (isolated_env / ".pg_service.conf").exists()


# --- item 4: odd environments and inputs ---------------------------------------------------------------


def test_huge_numbers_are_config_errors_not_tracebacks(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    r = cli("add", "s1", "--host", HOST, "--user", "u1", "--sslmode", "require")
    assert r.code == 0, r.err  # a stored token: `refresh` and `status` compare its expiry with the window
    cfg = isolated_env / ".config" / "pgiam" / "config.toml"
    good = cfg.read_text()
    for bad in ("refresh_before = 99999999999999", "token_lifetime = 99999999999999",
                "local_port = 99999999999999\nhostaddr = \"127.0.0.1\""):
        cfg.write_text(good + bad + "\n")
        before = files(isolated_env)
        for verb in ("refresh", "status"):
            service_error(cli(verb), verb, str(cfg), bad.split()[0], "range")
        assert files(isolated_env) == before


def test_token_port_is_bounded(cli: Cli) -> None:
    cli.static_keys()
    r = cli("token", "--hostname", HOST, "--username", "u1", "--port", "99999999999")
    one_line(r, 2, "--port", "1-65535")
    assert r.out == ""


def test_bad_defaults_are_errors_even_with_no_services(cli: Cli, isolated_env: Path) -> None:
    for text, needle in (('[defaults]\nport = "x"\n', "port"),
                         ("[defaults]\nrefresh_before = 99999999999999\n", "refresh_before"),
                         ("[defaults]\ncredential_timeout = 0\n", "credential_timeout"),
                         ("[defaults]\nnot_a_key = 1\n", "not_a_key")):
        config(isolated_env, text)
        one_line(cli("--quiet", "refresh"), 2, "[defaults]", needle)


@pytest.mark.parametrize("how", ["--config", "PGIAM_CONFIG"])
def test_explicit_config_that_does_not_exist_is_exit_2_even_quiet(
    cli: Cli, isolated_env: Path, tmp_path: Path, how: str
) -> None:
    moved = tmp_path / "moved" / "config.toml"
    args = ["--config", str(moved)] if how == "--config" else []
    env = {"PGIAM_CONFIG": str(moved)} if how == "PGIAM_CONFIG" else {}
    for verb in (["refresh", "--quiet"], ["--quiet", "refresh"], ["status"]):
        one_line(cli(*args, *verb, env=env), 2, str(moved), how)
    # `add` still creates an explicitly named config
    cli.static_keys()
    assert cli(*args, "add", "s1", "--host", HOST, "--user", "u1", "--sslmode", "require", env=env).code == 0
    assert moved.is_file()


@pytest.mark.parametrize("value", ["not-an-ip", "db.example.com", "10.0.0.1,10.0.0.2", "999.1.1.1"])
def test_hostaddr_must_be_an_ip_address(cli: Cli, isolated_env: Path, value: str) -> None:
    cli.static_keys()
    before = files(isolated_env)
    r = cli("add", "s1", "--host", HOST, "--user", "u1", "--sslmode", "require", "--hostaddr", value)
    one_line(r, 2, "hostaddr", "IP address")
    assert files(isolated_env) == before


def test_hostaddr_ipv4_and_ipv6_accepted(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    for i, value in enumerate(("127.0.0.1", "::1")):
        r = cli("add", f"s{i}", "--host", HOST, "--user", "u1", "--sslmode", "require", "--hostaddr", value,
                "--local-port", "6432")
        assert r.code == 0, r.err
        assert f"hostaddr={value}\n" in (isolated_env / ".pg_service.conf").read_text()


def test_trailing_dot_in_host_is_refused(cli: Cli, isolated_env: Path) -> None:
    """Refused, not normalised: libpq checks the certificate against host as written (with the dot)
    while the token would be signed for the name without it; neither file may get a dotted name."""
    cli.static_keys()
    before = files(isolated_env)
    r = cli("add", "s1", "--host", HOST + ".", "--user", "u1", "--sslmode", "require")
    one_line(r, 2, "'host'", "ends with a dot")
    assert files(isolated_env) == before
    config(isolated_env, f'[services.s1]\nhost = "{HOST}"\nsigning_host = "{HOST}."\nuser = "u1"\n')
    service_error(cli("refresh"), "refresh", "'signing_host'", "ends with a dot")


def test_repeated_set_key_is_an_error(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    before = files(isolated_env)
    r = cli("add", "s1", "--host", HOST, "--user", "u1", "--sslmode", "require",
            "--set", "application_name=a", "--set", "application_name=b")
    one_line(r, 2, "application_name", "twice")
    assert files(isolated_env) == before


@pytest.mark.root
def test_empty_home_is_the_passwd_home_as_in_libpq(alice: pwd.struct_passwd) -> None:  # noqa: F811
    """HOME="" (a broken cron or service environment): libpq uses the passwd entry's home, so pgiam
    must write there too, not to /.pgpass or ./.pgpass."""
    home = Path(alice.pw_dir)
    env = {"HOME": "", "AWS_ACCESS_KEY_ID": "AKIDEMPTYHOME0000001", "AWS_SECRET_ACCESS_KEY": "s",
           "AWS_EC2_METADATA_DISABLED": "true", "PGIAM_SITE_CONFIG": ""}
    r = run_as(alice, ["add", "s1", "--host", HOST, "--user", "u1", "--sslmode", "require"], env)
    assert r.returncode == 0, r.stderr
    assert (home / ".pgpass").stat().st_uid == alice.pw_uid
    assert "X-Amz-Signature=" in (home / ".pgpass").read_text()
    assert (home / ".pg_service.conf").is_file()
    assert (home / ".config" / "pgiam" / "config.toml").is_file()
    assert not os.path.exists("/.pgpass")
