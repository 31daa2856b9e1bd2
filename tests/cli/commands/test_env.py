"""`pgiam env NAME` and `pgiam exec NAME -- CMD`: a fresh token through the environment only."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from pgiam.aws.tokeninfo import decode
from tests.conftest import TEST_KEY_ID, Cli

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"

# the child reports its own argv as the kernel has it, and what it got in its environment
CHILD = """
import os, sys
cmdline = open("/proc/self/cmdline", "rb").read().decode() if os.path.exists("/proc/self/cmdline") else ""
print("argv=" + repr(sys.argv[1:]))
token = os.environ.get("PGPASSWORD", "")
signature = "X-" + "Amz-Signature="  # built here, so the script text itself does not hold it
seen = cmdline + " ".join(sys.argv)
print("cmdline_read=" + str(bool(cmdline) and "cmdline_read" in cmdline))
print("cmdline_has_token=" + str(bool(token) and token in seen or signature in seen))
print("service=" + os.environ.get("PGSERVICE", "-"))
print("servicefile=" + os.environ.get("PGSERVICEFILE", "-"))
print("password=" + os.environ.get("PGPASSWORD", "-"))
sys.exit(int(sys.argv[1]))
"""


def tree(home: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(home.rglob("*")) if p.is_file()}


@pytest.fixture
def ready(cli: Cli, isolated_env: Path) -> Cli:
    cli.static_keys()
    assert cli("add", "prod", "--host", HOST, "--user", "alice").code == 0
    return cli


def _token_ok(token: str) -> None:
    info = decode(token)
    assert info is not None and info.host == f"{HOST}:5432" and info.user == "alice"
    assert info.access_key == TEST_KEY_ID


def test_env_prints_exactly_the_exports_and_writes_nothing(ready: Cli, isolated_env: Path) -> None:
    before = tree(isolated_env)
    r = ready("env", "prod")
    assert r.code == 0
    # stderr (not eval'ed) says what the export does to the shell and how to undo it
    assert "PGPASSWORD overrides every pgpass entry" in r.err and "unset PGPASSWORD" in r.err
    assert len(r.err.splitlines()) == 1 and "X-Amz" not in r.err
    lines = r.out.splitlines()
    assert len(lines) == 2 and lines[0] == "export PGSERVICE=prod"
    assert lines[1].startswith("export PGPASSWORD='") and lines[1].endswith("'")  # & and % need quoting
    words = shlex.split(lines[1])
    assert words[0] == "export" and words[1].startswith("PGPASSWORD=")
    _token_ok(words[1].split("=", 1)[1])
    assert tree(isolated_env) == before


def test_env_names_a_non_default_service_file(cli: Cli, isolated_env: Path, tmp_path: Path) -> None:
    cli.static_keys()
    svcfile = tmp_path / "services.conf"
    assert cli("--service-file", str(svcfile), "add", "prod", "--host", HOST, "--user", "alice").code == 0
    r = cli("env", "prod", "--service-file", str(svcfile))
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[:2] == ["export PGSERVICE=prod", f"export PGSERVICEFILE={shlex.quote(str(svcfile))}"]
    assert len(lines) == 3 and lines[2].startswith("export PGPASSWORD=")
    r = cli("env", "prod", env={"PGSERVICEFILE": str(svcfile)})  # the environment is the same choice
    assert r.out.splitlines()[1] == f"export PGSERVICEFILE={shlex.quote(str(svcfile))}"


def test_env_default_service_file_spelled_out_is_not_repeated(ready: Cli, isolated_env: Path) -> None:
    r = ready("env", "prod", "--service-file", str(isolated_env / ".pg_service.conf"))
    assert r.code == 0 and [ln.split("=")[0] for ln in r.out.splitlines()] == ["export PGSERVICE",
                                                                               "export PGPASSWORD"]


def test_env_output_evaluates_in_a_shell(ready: Cli) -> None:
    r = ready("env", "prod")
    proc = subprocess.run(["sh", "-c", r.out + 'printf %s "$PGPASSWORD"'], capture_output=True, text=True,
                          check=True)
    _token_ok(proc.stdout)


def test_env_without_stanza_is_a_clear_error(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    cfg = isolated_env / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f'[services.prod]\nhost = "{HOST}"\nuser = "alice"\n')
    r = cli("env", "prod")
    assert r.code == 1 and r.out == ""
    assert r.err == (f"pgiam: error: {isolated_env / '.pg_service.conf'} has no [prod] stanza yet; "
                     "run `pgiam refresh prod` once to write it\n")


def test_env_unknown_service_exit_2(ready: Cli) -> None:
    r = ready("env", "nosuch")
    assert r.code == 2 and "no service 'nosuch'" in r.err and r.out == ""


@pytest.mark.parametrize("status", [0, 7])
def test_exec_passes_token_in_environment_never_argv(ready: Cli, isolated_env: Path, status: int) -> None:
    before = tree(isolated_env)
    r = ready("exec", "prod", "--", sys.executable, "-c", CHILD, str(status))
    assert r.code == status, r.err
    got = dict(line.split("=", 1) for line in r.out.splitlines())
    assert got["argv"] == repr([str(status)])
    assert got["cmdline_has_token"] == "False"
    assert got["cmdline_read"] == str(sys.platform.startswith("linux"))  # the kernel's view was checked
    assert got["service"] == "prod" and got["servicefile"] == "-"
    _token_ok(got["password"])
    assert tree(isolated_env) == before


def test_exec_without_double_dash(ready: Cli) -> None:
    r = ready("exec", "prod", sys.executable, "-c", CHILD, "3")
    assert r.code == 3 and "service=prod" in r.out


@pytest.mark.parametrize("argv", [["exec", "prod"], ["exec", "prod", "--"]])
def test_exec_without_command_exit_2(ready: Cli, argv: list[str]) -> None:
    r = ready(*argv)
    assert r.code == 2 and r.err == "pgiam: error: nothing to run: pgiam exec prod -- COMMAND [ARG...]\n"


def test_exec_command_not_found_127(ready: Cli) -> None:
    r = ready("exec", "prod", "--", "no-such-command-pgiam")
    assert r.code == 127 and r.err == "pgiam: error: command not found: no-such-command-pgiam\n"


def test_exec_without_stanza_runs_nothing(cli: Cli, isolated_env: Path, tmp_path: Path) -> None:
    cli.static_keys()
    cfg = isolated_env / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f'[services.prod]\nhost = "{HOST}"\nuser = "alice"\n')
    marker = tmp_path / "ran"
    r = cli("exec", "prod", "--", "touch", str(marker))
    assert r.code == 1 and "has no [prod] stanza yet" in r.err
    assert not marker.exists()


def test_exec_credential_failure_runs_nothing(ready: Cli, isolated_env: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    env = {k: "" for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    r = ready("exec", "prod", "--", "touch", str(marker), env={**env, "AWS_PROFILE": "nosuch"})
    assert r.code == 1 and "nosuch" in r.err and not marker.exists()
    assert os.environ.get("PGPASSWORD") is None
