"""`pgiam status`: exact JSON keys, --details, tab-separated output off a terminal, a table on one."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, Cli

HOST = "mydb.abc123.us-east-1.rds.amazonaws.com"
BASE_KEYS = ["name", "host", "port", "user", "dbname", "expires_at", "state"]


def setup(cli: Cli) -> None:
    cli.static_keys()
    assert cli("add", "prod", "--host", HOST, "--user", "alice").code == 0
    cfg = cli.home / ".config" / "pgiam" / "config.toml"
    with cfg.open("a") as f:  # (`add` saves nothing for a service whose token it cannot get)
        f.write(f'\n[services.dev]\nhost = "{HOST}"\nuser = "bob"\nprofile = "nosuch"\n')
    assert cli("refresh").code == 1


def test_json_keeps_exactly_the_documented_keys(cli: Cli) -> None:
    setup(cli)
    rows = json.loads(cli("status", "--json").out)
    assert [list(r) for r in rows] == [BASE_KEYS, [*BASE_KEYS, "error"]]
    assert rows[0]["state"] == "fresh" and rows[1]["state"] == "error"
    assert "nosuch" in rows[1]["error"]


def test_json_details(cli: Cli, isolated_env: Path) -> None:
    setup(cli)
    rows = json.loads(cli("status", "--json", "--details").out)
    prod, dev = rows
    assert prod["credential_source"] == "env" and prod["profile"] is None and prod["last_error"] is None
    assert prod["last_refresh"].endswith("Z")
    assert dev["profile"] == "nosuch" and dev["last_refresh"] is None and "nosuch" in dev["last_error"]
    assert prod["files"] == {
        "config": str(isolated_env / ".config" / "pgiam" / "config.toml"),
        "pgpass": str(isolated_env / ".pgpass"),
        "service_file": str(isolated_env / ".pg_service.conf"),
        "state": str(isolated_env / ".local" / "state" / "pgiam" / "state.json"),
    }
    assert "X-Amz" not in json.dumps(rows)


def test_details_needs_json(cli: Cli) -> None:
    r = cli("status", "--details")
    assert r.code == 2 and "--details goes with --json" in r.err


def test_not_a_terminal_gives_tab_separated_lines(cli: Cli) -> None:
    setup(cli)
    r = cli("status")
    assert r.code == 0 and "\033[" not in r.out
    lines = [ln.split("\t") for ln in r.out.splitlines()]
    assert lines[0] == [
        "name",
        "host",
        "port",
        "user",
        "dbname",
        "expires_at",
        "state",
        "profile",
        "credential_source",
        "last_refresh",
        "error",
    ]
    assert lines[1][:7] == ["prod", HOST, "5432", "alice", "alice", lines[1][5], "fresh"]
    assert lines[1][7:9] == ["default", "env"] and lines[1][10] == "-"
    assert (
        lines[2][0] == "dev"
        and lines[2][6] == "error"
        and lines[2][7] == "nosuch"
        and "nosuch" in lines[2][10]
    )
    assert all(len(ln) == 11 for ln in lines)


def _on_a_terminal(cli: Cli, *args: str, env: dict[str, str] | None = None) -> str:
    master, slave = pty.openpty()
    e = cli.environ(env)
    e.setdefault("TERM", "xterm")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pgiam", *args],
        stdout=slave,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=e,
        cwd=str(REPO),
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            b = os.read(master, 65536)
        except OSError:
            break
        if not b:
            break
        chunks.append(b)
    os.close(master)
    assert proc.wait(timeout=60) == 0
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_terminal_gets_an_aligned_coloured_table(cli: Cli, isolated_env: Path) -> None:
    setup(cli)
    out = _on_a_terminal(cli, "status")
    lines = out.splitlines()
    assert lines[0].split() == [
        "NAME",
        "HOST",
        "PORT",
        "USER",
        "DBNAME",
        "EXPIRES",
        "STATE",
        "PROFILE",
        "SOURCE",
        "LAST",
        "REFRESH",
    ]
    assert "\033[32mfresh\033[0m" in lines[1] and "\033[1;31merror\033[0m" in lines[2]
    assert lines[0].index("HOST") == lines[1].index(HOST)
    assert any(ln.startswith("dev: ") and "nosuch" in ln for ln in lines)
    assert lines[-1].startswith("files: config ") and str(isolated_env / ".pgpass") in lines[-1]
    plain = _on_a_terminal(cli, "status", env={"NO_COLOR": "1"})
    assert "\033[" not in plain and "fresh" in plain
