"""`pgiam status`: exact JSON keys, --details, tab-separated output off a terminal, a table on one."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, Cli

HOST = "mydb.abc123.us-east-1.rds.amazonaws.com"
BASE_KEYS = ["name", "state", "expires_at", "expires_in", "host", "port", "user", "dbname", "error"]
DETAIL_KEYS = ["profile", "credential_source", "last_refresh", "hostaddr", "signed_port", "sslrootcert", "files"]


def setup(cli: Cli) -> None:
    cli.static_keys()
    assert cli("add", "prod", "--host", HOST, "--user", "alice", "--hostaddr", "127.0.0.1",
               "--local-port", "15432").code == 0
    cfg = cli.home / ".config" / "pgiam" / "config.toml"
    with cfg.open("a") as f:  # (`add` saves nothing for a service whose token it cannot get)
        f.write(f'\n[services.dev]\nhost = "{HOST}"\nuser = "bob"\nprofile = "nosuch"\n')
    assert cli("refresh").code == 1


def test_json_keeps_exactly_the_documented_keys(cli: Cli) -> None:
    setup(cli)
    r = cli("status", "--json")
    rows = json.loads(r.out)
    assert [list(r) for r in rows] == [BASE_KEYS, BASE_KEYS]
    assert rows[0]["state"] == "fresh" and rows[1]["state"] == "error"
    assert rows[0]["error"] is None and "nosuch" in rows[1]["error"]
    assert rows[0]["port"] == 15432  # the port libpq dials, not the signed 5432
    assert 800 < rows[0]["expires_in"] <= 900
    assert r.code == 1  # dev is in error


def test_exit_status_for_monitoring_and_names(cli: Cli, isolated_env: Path) -> None:
    setup(cli)
    assert cli("status", "prod").code == 0
    assert cli("status", "dev").code == 1
    assert cli("status").code == 1
    r = cli("status", "--json", "prod")
    assert r.code == 0 and [row["name"] for row in json.loads(r.out)] == ["prod"]
    r = cli("status", "nope")
    assert r.code == 2 and "no service 'nope'" in r.err
    # --quiet, for monitoring: silence when all is well, one line per problem
    r = cli("status", "-q", "prod")
    assert (r.code, r.out, r.err) == (0, "", "")
    r = cli("status", "-q")
    assert r.code == 1 and r.out == "" and r.err.startswith("pgiam: error: dev: error: ")
    assert len(r.err.splitlines()) == 1
    # the recorded expiry of prod's token lies in the past: expired, exit 1
    path = isolated_env / ".local" / "state" / "pgiam" / "state.json"
    saved = json.loads(path.read_text())
    saved["services"]["prod"]["expires_at"] = "2000-01-01T00:00:00Z"
    path.write_text(json.dumps(saved))
    r = cli("status", "--json", "prod")
    row = json.loads(r.out)[0]
    assert r.code == 1 and row["state"] == "expired" and row["expires_in"] < 0


def test_last_error_is_shown_while_the_token_is_fresh(cli: Cli) -> None:
    setup(cli)
    cli.env.clear()  # no credentials any more: the forced refresh fails, the old token stays fresh
    assert cli("refresh", "--force", "prod", env={"AWS_PROFILE": "gone"}).code == 1
    r = cli("status", "--json", "prod")
    row = json.loads(r.out)[0]
    assert row["state"] == "fresh" and "gone" in row["error"] and r.code == 0
    plain = cli("status", "prod").out.splitlines()
    assert plain[1].split("\t")[-1] == row["error"]


def test_json_details(cli: Cli, isolated_env: Path) -> None:
    setup(cli)
    rows = json.loads(cli("status", "--json", "--details").out)
    prod, dev = rows
    assert list(prod) == BASE_KEYS + DETAIL_KEYS
    assert prod["credential_source"] == "env" and prod["profile"] is None and prod["error"] is None
    assert prod["last_refresh"].endswith("Z") and prod["hostaddr"] == "127.0.0.1" and prod["signed_port"] == 5432
    assert dev["profile"] == "nosuch" and dev["last_refresh"] is None and "nosuch" in dev["error"]
    assert prod["files"] == {
        "config": str(isolated_env / ".config" / "pgiam" / "config.toml"),
        "pgpass": str(isolated_env / ".pgpass"),
        "service_file": str(isolated_env / ".pg_service.conf"),
        "state": str(isolated_env / ".local" / "state" / "pgiam" / "state.json"),
    }
    assert "X-Amz" not in json.dumps(rows)


def test_details_works_without_json(cli: Cli) -> None:
    setup(cli)
    r = cli("status", "--details")
    assert r.code == 1 and r.err == ""
    header = r.out.splitlines()[0].split("\t")
    assert header == BASE_KEYS + DETAIL_KEYS[:-1]


def test_not_a_terminal_gives_tab_separated_lines_with_the_json_values(cli: Cli) -> None:
    setup(cli)
    r = cli("status")
    assert r.code == 1 and "\033[" not in r.out
    lines = [ln.split("\t") for ln in r.out.splitlines()]
    assert lines[0] == BASE_KEYS
    assert all(len(ln) == len(BASE_KEYS) for ln in lines)
    rows = json.loads(cli("status", "--json").out)
    for line, row in zip(lines[1:], rows):
        assert line == ["-" if row[k] is None else str(row[k]) for k in BASE_KEYS] or (
            # expires_in may tick by a second between the two runs
            [v for k, v in zip(BASE_KEYS, line) if k != "expires_in"]
            == ["-" if row[k] is None else str(row[k]) for k in BASE_KEYS if k != "expires_in"]
        )


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
    assert proc.wait(timeout=60) in (0, 1)
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_terminal_gets_an_aligned_coloured_table_in_80_columns(cli: Cli, isolated_env: Path) -> None:
    setup(cli)
    out = _on_a_terminal(cli, "status", env={"COLUMNS": "80"})
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "STATE", "LEFT", "EXPIRES", "PORT", "USER", "DBNAME"]
    assert "\033[32mfresh\033[0m" in lines[1] and "\033[1;31merror\033[0m" in lines[2]
    assert re.search(r"fresh\033\[0m +1[45]m +20\d\d-\d\d-\d\d \d\d:\d\dZ +15432 +alice", lines[1]), lines[1]
    assert any(ln.startswith("dev: ") and "nosuch" in ln for ln in lines)
    visible = [re.sub(r"\033\[[0-9;]*m", "", ln) for ln in lines]
    assert max(len(ln) for ln in visible) <= 80, visible
    plain = _on_a_terminal(cli, "status", env={"NO_COLOR": "1"})
    assert "\033[" not in plain and "fresh" in plain
    wide = _on_a_terminal(cli, "status", "--wide", "--details", env={"NO_COLOR": "1", "COLUMNS": "80"})
    wl = wide.splitlines()
    assert wl[0].split()[-5:] == ["HOST", "PROFILE", "SOURCE", "LAST", "REFRESH"]
    assert HOST in wl[1] and wl[0].index("HOST") == wl[1].index(HOST)
    assert wl[-1].startswith("files: config ") or any(ln.startswith("files: config ") for ln in wl)


def test_long_names_are_shortened_to_fit(cli: Cli) -> None:
    cli.static_keys()
    name = "a-very-long-service-name-that-would-not-fit-anywhere-near-eighty-columns"
    assert cli("add", name, "--host", HOST, "--user", "alice" * 6, "--dbname", "d" * 40).code == 0
    out = _on_a_terminal(cli, "status", env={"NO_COLOR": "1", "COLUMNS": "80"})
    assert all(len(ln) <= 80 for ln in out.splitlines()), out
    assert "…" in out
