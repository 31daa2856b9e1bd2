"""Output fit for cron: --quiet is silent on success, one stderr line per failing service, exit 0/1/2."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Cli

HOST = "mydb.abc123.us-east-1.rds.amazonaws.com"


def add(cli: Cli, name: str, *extra: str) -> None:
    r = cli("add", name, "--host", HOST, "--user", name, *extra)
    assert r.code == 0, r.err


def test_quiet_success_prints_nothing(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    add(cli, "a")
    add(cli, "b")
    (isolated_env / ".pgpass").unlink()
    for args in (["--quiet", "refresh"], ["refresh", "--quiet"], ["-q", "refresh", "--force"]):
        r = cli(*args)
        assert (r.code, r.out, r.err) == (0, "", ""), args
    r = cli("refresh", "--force")
    assert r.code == 0 and "a: refreshed" in r.out and "b: refreshed" in r.out  # not silent without -q


def test_one_stderr_line_per_failing_service(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    add(cli, "good")
    cfg = isolated_env / ".config" / "pgiam" / "config.toml"
    with cfg.open("a") as f:
        for n in (1, 2):  # (`add` saves nothing for a service whose token it cannot get)
            f.write(f'\n[services.bad{n}]\nhost = "{HOST}"\nuser = "bad{n}"\nprofile = "missing{n}"\n')
    r = cli("--quiet", "refresh", "--force")
    assert r.code == 1 and r.out == ""
    lines = r.err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("pgiam: error: bad1: ") and "missing1" in lines[0]
    assert lines[1].startswith("pgiam: error: bad2: ") and "missing2" in lines[1]


def test_no_credentials_at_all(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    add(cli, "a")
    add(cli, "b")
    cli.env.clear()
    r = cli("refresh", "--quiet", "--force")
    assert r.code == 1 and r.out == ""
    assert [ln.split(":")[2].strip() for ln in r.err.splitlines()] == ["a", "b"]


def test_configuration_error_exits_2_with_one_line(cli: Cli, isolated_env: Path) -> None:
    config = isolated_env / ".config" / "pgiam" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[services.x]\nhost = 'h'\n")
    r = cli("--quiet", "refresh")  # one invalid service: it fails (exit 1), reported in one line
    assert r.code == 1 and r.out == "" and len(r.err.splitlines()) == 1 and r.err.startswith("pgiam: error: x: ")
    config.write_text("[services.x\nhost = 'h'\n")
    r = cli("--quiet", "refresh")  # a file that cannot be parsed at all: exit 2
    assert r.code == 2 and r.out == "" and len(r.err.splitlines()) == 1 and r.err.startswith("pgiam: error: ")
    r = cli("refresh", "--quiet", "nosuchflag", "--bogus")
    assert r.code == 2 and r.out == "" and len(r.err.splitlines()) == 1


def test_quiet_refresh_output_has_no_colour_or_table(cli: Cli) -> None:
    cli.static_keys()
    add(cli, "a")
    r = cli("refresh", "--force")
    assert "\033[" not in r.out and "\t" not in r.out and r.out.strip() == r.out.strip().splitlines()[0]
