"""Bad input never corrupts (issue item 7): one test per case, through the CLI. Each case ends in a
clear one-line error with the files unchanged, or succeeds with every foreign byte preserved."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pgiam.libpq import pgpass as pgpass_mod
from tests.conftest import Cli, Result
from tests.helpers_fs import temp_files

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"
SERVICE = f'[services.bad]\nhost = "{HOST}"\nuser = "u"\ndbname = "db"\nsslmode = "require"\n'


def configure(cli: Cli, home: Path, text: str = SERVICE) -> Path:
    cli.static_keys()
    cfg = home / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(text)
    return cfg


def one_line_error(r: Result, code: int, *needles: str) -> None:
    assert r.code == code, (r.code, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    assert all(n in lines[0] for n in needles), r.err
    assert "Traceback" not in r.err


def snapshot(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for p in sorted(home.rglob("*"))
            if p.is_file() and not p.name.endswith(".pgiam.lock") and p.parent.name != "locks"}


def entry_of(data: bytes) -> bytes:
    found = pgpass_mod.lookup(data, HOST, "5432", "db", "u")
    assert found is not None and "X-Amz-Signature=" in found[1]
    return data.splitlines(keepends=True)[found[0]]


MALFORMED = (
    b"only:four:fields:here\n"
    b"::::\n"
    b"trailing\\\n"
    b"\xff\xfe\xfd not utf-8 at all\n"
    b"a:b:c:d:e:f:g:h\n"
    b"   \t  \n"
    b"#comment without newline at end"
)


def test_malformed_pgpass_lines_preserved_byte_for_byte(cli: Cli, isolated_env: Path) -> None:
    configure(cli, isolated_env)
    pgpass = isolated_env / ".pgpass"
    pgpass.write_bytes(MALFORMED)
    pgpass.chmod(0o600)
    r = cli("refresh")
    assert r.code == 0, r.err
    data = pgpass.read_bytes()
    ours = entry_of(data)
    assert data.replace(ours, b"") == MALFORMED + b"\n"  # only the unavoidable final newline is added


def test_pgpass_with_nul_byte_refused_unchanged(cli: Cli, isolated_env: Path) -> None:
    configure(cli, isolated_env)
    pgpass = isolated_env / ".pgpass"
    pgpass.write_bytes(b"ok:5432:db:u:pw\nbad\x00line:5432:db:u:pw\n")
    pgpass.chmod(0o600)
    before = snapshot(isolated_env)
    r = cli("refresh")
    one_line_error(r, 1, "NUL", "line 2")
    after = snapshot(isolated_env)
    after.pop(".local/state/pgiam/state.json", None)  # the failure is recorded for `pgiam status`
    assert after == before


def test_service_file_with_syntax_errors_preserved(cli: Cli, isolated_env: Path) -> None:
    configure(cli, isolated_env)
    services = isolated_env / ".pg_service.conf"
    broken = (
        b"stray=before any section\n"
        b"[unclosed\n"
        b"[legacy]\n"
        b"host = spaced.example.com\n"
        b"no equals sign here\n"
        b"=novalue\n"
        b"\xff\xfe=binary\r\n"
        b"[legacy]\n"
        b"host=duplicate\n"
        b"last line without newline"
    )
    services.write_bytes(broken)
    r = cli("refresh")
    assert r.code == 0, r.err
    after = services.read_bytes()
    assert after.startswith(broken + b"\n")
    assert after[len(broken) + 1 :].lstrip(b"\n").startswith(b"[bad]\n# managed by pgiam")


def test_fifty_megabyte_pgpass(cli: Cli, isolated_env: Path) -> None:
    configure(cli, isolated_env)
    pgpass = isolated_env / ".pgpass"
    # 1 KiB lines: 51,200 of them (pgpass.parse costs per line; 100-byte lines take ~15 s of CPU)
    line = b"bulk-host.example.com:5432:db:someone:" + b"x" * 985 + b"\n"
    big = line * (50 * 1024 * 1024 // len(line) + 1)
    pgpass.write_bytes(big)
    pgpass.chmod(0o600)
    r = cli("refresh", timeout=120)
    assert r.code == 0, r.err
    data = pgpass.read_bytes()
    assert len(data) > 50 * 1024 * 1024
    assert data.startswith(big)
    ours = data[len(big) :]
    assert entry_of(ours) == ours  # exactly one new line: pgiam's complete entry
    assert temp_files(isolated_env) == []


def test_pgpass_is_a_directory(cli: Cli, isolated_env: Path) -> None:
    configure(cli, isolated_env)
    d = isolated_env / ".pgpass"
    d.mkdir()
    (d / "inside").write_bytes(b"keep")
    r = cli("refresh")
    one_line_error(r, 1, str(d), "directory")
    assert d.is_dir() and os.listdir(d) == ["inside"] and (d / "inside").read_bytes() == b"keep"


def test_pgpass_is_a_fifo_refused_without_blocking(cli: Cli, isolated_env: Path) -> None:
    configure(cli, isolated_env)
    fifo = isolated_env / ".pgpass"
    os.mkfifo(fifo, 0o600)
    r = cli("refresh", timeout=30)  # a writer that opened the FIFO would hang here
    one_line_error(r, 1, str(fifo), "FIFO")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_missing_parent_directory_created_0700(cli: Cli, isolated_env: Path, tmp_path: Path) -> None:
    configure(cli, isolated_env)
    target = tmp_path / "new" / "deeper" / "pgpass"
    old = os.umask(0)
    try:
        r = cli("refresh", env={"PGPASSFILE": str(target)})
    finally:
        os.umask(old)
    assert r.code == 0, r.err
    assert stat.S_IMODE(os.stat(tmp_path / "new").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "new" / "deeper").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    entry_of(target.read_bytes())
    assert f"passfile={target}\n".encode() in (isolated_env / ".pg_service.conf").read_bytes()


@pytest.mark.parametrize("escape", ["\\n", "\\r", "\\u0000"])
@pytest.mark.parametrize("key", ["user", "dbname", "host"])
def test_config_value_with_newline_or_nul(cli: Cli, isolated_env: Path, key: str, escape: str) -> None:
    values = {"host": HOST, "user": "u", "dbname": "db"}
    values[key] = values[key][:2] + escape + values[key][2:]
    cfg = "[services.bad]\n" + "".join(f'{k} = "{v}"\n' for k, v in values.items()) + 'sslmode = "require"\n'
    configure(cli, isolated_env, cfg)
    pgpass = isolated_env / ".pgpass"
    pgpass.write_bytes(b"keep:5432:db:u:pw\n")
    pgpass.chmod(0o600)
    before = snapshot(isolated_env)
    r = cli("refresh")
    one_line_error(r, 1, key)  # the invalid service fails; nothing is written
    assert snapshot(isolated_env) == before


def test_add_value_with_newline_refused(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    before = snapshot(isolated_env)
    r = cli("add", "bad", "--host", HOST, "--user", "u\nx", "--sslmode", "require")
    one_line_error(r, 2, "user")
    r = cli("add", "bad", "--host", HOST, "--user", "u", "--set", "application_name=a\nb")
    one_line_error(r, 2, "application_name")
    assert snapshot(isolated_env) == before
