"""The command line: global options before or after the verb, --user's two meanings, usage errors."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from pgiam import __version__
from pgiam.cli.main import build_parser, main
from tests.conftest import REPO, Cli

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"


def added(cli: Cli, *extra: str) -> None:
    cli.static_keys()
    r = cli(*extra, "add", "prod", "--host", HOST, "--user", "alice")
    assert r.code == 0, r.err


def test_quiet_before_or_after_the_verb(cli: Cli) -> None:
    added(cli)
    loud = cli("refresh", "--force")
    assert loud.code == 0 and loud.out.startswith("prod: refreshed"), loud
    for argv in (["refresh", "--force", "--quiet"], ["--quiet", "refresh", "--force"],
                 ["-q", "refresh", "--force"], ["refresh", "-q", "--force"]):
        r = cli(*argv)
        assert (r.code, r.out, r.err) == (0, "", ""), argv


def test_verbose_before_or_after_the_verb(cli: Cli) -> None:
    added(cli)
    assert cli("refresh").out == ""
    before, after = cli("-v", "refresh"), cli("refresh", "--verbose")
    assert before.out.startswith("prod: fresh (valid until ") and before.out.endswith(", nothing to do\n")
    assert after.out == before.out


def test_file_options_before_or_after_the_verb(cli: Cli, tmp_path: Path, isolated_env: Path) -> None:
    cli.static_keys()
    cfg, pgpass, services = tmp_path / "c.toml", tmp_path / "pgpass", tmp_path / "svc.conf"
    opts = ["--config", str(cfg), "--pgpass", str(pgpass), "--service-file", str(services)]
    assert cli(*opts, "add", "a", "--host", HOST, "--user", "alice").code == 0
    assert cli("add", "b", "--host", HOST, "--user", "bob", *opts).code == 0
    assert b"[services.a]" in cfg.read_bytes() and b"[services.b]" in cfg.read_bytes()
    assert pgpass.read_bytes().count(HOST.encode()) == 4  # two lines, host in the field and in the token
    assert b"[a]" in services.read_bytes() and b"[b]" in services.read_bytes()
    assert not (isolated_env / ".pgpass").exists() and not (isolated_env / ".pg_service.conf").exists()
    assert not (isolated_env / ".config" / "pgiam").exists()


def test_user_after_add_is_the_database_user_before_it_the_unix_user(cli: Cli, isolated_env: Path) -> None:
    me = pwd.getpwuid(os.geteuid()).pw_name
    added(cli, "--user", me)  # acting as oneself is allowed for anyone
    cfg = (isolated_env / ".config" / "pgiam" / "config.toml").read_text()
    assert 'user = "alice"' in cfg and me not in cfg.replace("alice", "")
    assert "user=alice\n" in (isolated_env / ".pg_service.conf").read_text()
    r = cli("--user", "no-such-user-pgiam", "add", "x", "--host", HOST, "--user", "alice")
    assert r.code == 2 and r.err == "pgiam: error: --user no-such-user-pgiam: no such Unix user\n"
    r = cli("refresh", "--user", "no-such-user-pgiam")  # after other verbs it is the Unix user too
    assert r.code == 2 and "no such Unix user" in r.err


def test_add_without_database_user_is_a_usage_error(cli: Cli) -> None:
    r = cli("--user", "root", "add", "x", "--host", HOST)
    assert r.code == 2 and "--user" in r.err and r.err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["-q"], "required: COMMAND"),  # bare `pgiam`: short usage (tests/cli/test_errors.py)
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["refresh", "--bogus"], "unrecognized arguments: --bogus"),
        (["add", "prod"], "prod is a new service: --host and --user are required"),
        (["add", "prod", "--host", HOST, "--user", "a", "--port", "x"], "argument --port: invalid int value"),
        (["exec"], "the following arguments are required: NAME"),
        (["schedule", "sometimes"], "invalid choice: 'sometimes'"),
    ],
    ids=["no-verb", "unknown-verb", "unknown-option", "missing-required", "bad-int", "exec-no-name", "bad-choice"],
)
def test_usage_errors_exit_2_with_one_line(cli: Cli, argv: list[str], needle: str) -> None:
    r = cli(*argv)
    assert r.code == 2 and r.out == ""
    assert r.err.startswith("pgiam: error: ") and r.err.count("\n") == 1, r.err
    assert needle in r.err and "--help" in r.err


def test_version(cli: Cli) -> None:
    r = cli("--version")
    assert (r.code, r.out, r.err) == (0, f"pgiam {__version__}\n", "")


def test_help_lists_the_verbs(cli: Cli) -> None:
    r = cli("--help")
    assert r.code == 0
    for verb in ("token", "add", "remove", "refresh", "status", "env", "exec", "schedule", "doctor"):
        assert verb in r.out


def test_python_dash_m_pgiam_runs_main(isolated_env: Path) -> None:
    env = {k: v for k, v in os.environ.items()}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run([sys.executable, "-m", "pgiam", "refresh"], capture_output=True, text=True, env=env,
                          cwd=str(isolated_env), timeout=60, check=False)
    assert proc.returncode == 0 and "no services in" in proc.stderr


def test_main_returns_exit_codes_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["refresh", "--bogus"]) == 2
    assert capsys.readouterr().err == (
        "pgiam: error: unrecognized arguments: --bogus (see `pgiam refresh --help`)\n"
    )
    assert main(["refresh", "nosuch"]) == 2
    assert "no service 'nosuch'" in capsys.readouterr().err
    assert main(["refresh"]) == 0


def test_every_verb_accepts_the_global_options_after_it() -> None:
    parser = build_parser()
    for verb, rest in [("refresh", []), ("status", []), ("remove", ["x"]), ("env", ["x"]), ("token",
                       ["--hostname", "h", "--username", "u"]), ("doctor", []), ("check-credentials", [])]:
        ns = parser.parse_args([verb, *rest, "--config", "c", "--pgpass", "p", "--service-file", "s", "-q", "-v"])
        assert (ns.config, ns.pgpass, ns.service_file, ns.quiet, ns.verbose) == ("c", "p", "s", True, True), verb
        ns = parser.parse_args(["--config", "c", verb, *rest])
        assert ns.config == "c" and ns.pgpass is None and ns.quiet is False, verb
