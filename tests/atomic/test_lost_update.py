"""Another program appending to ~/.pgpass while pgiam rewrites it loses nothing (issue 11, item 5).

Deterministic: the test-only write delay holds pgiam between its read and its rename; the test appends
a line exactly then (once the temp file exists, so after pgiam's read). Before the fix the rename put
back the content read before the append; now pgiam sees that the file changed, reads it again and
redoes its edit. The figures for a real appender racing back-to-back refreshes are measured by
bench/lost_updates.py (docs/benchmarks.md), not here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pgiam.libpq import pgpass
from tests.conftest import Cli
from tests.helpers_fs import temp_files

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"


def wait_for_temp(home: Path, proc: subprocess.Popen[str], limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if [n for n in temp_files(home) if n.startswith("..pgpass")]:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.002)
    raise AssertionError("pgiam never wrote a temp file")


def append(path: Path, line: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def test_line_appended_between_read_and_rename_is_kept(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    cfg = isolated_env / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f'[services.s1]\nhost = "{HOST}"\nuser = "u1"\nsslmode = "require"\n')
    target = isolated_env / ".pgpass"
    target.write_bytes(b"other.example.com:5432:app:bob:first\n")
    target.chmod(0o600)
    env = cli.environ({"PGIAM_TEST_WRITE_DELAY": "0.4", "PGIAM_TEST_WRITE_DELAY_ONLY": ".pgpass"})
    proc = subprocess.Popen([sys.executable, "-m", "pgiam", "refresh", "--force"], env=env,
                            cwd=str(isolated_env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_temp(isolated_env, proc)
    append(target, b"other.example.com:5432:app:carol:appended-meanwhile\n")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "s1: refreshed" in out
    data = target.read_bytes()
    assert b"carol:appended-meanwhile\n" in data  # lost before the fix
    assert b"bob:first\n" in data
    found = pgpass.lookup(data, HOST, "5432", "u1", "u1")
    assert found is not None and "X-Amz-Signature=" in found[1]
    assert sum(b"X-Amz-Signature=" in ln for ln in data.splitlines()) == 1
    assert temp_files(isolated_env) == []


@pytest.mark.parametrize("how", ["in-place", "rename"])
def test_file_rewritten_between_read_and_rename_is_read_again(cli: Cli, isolated_env: Path, how: str) -> None:
    """Another program rewrites pgpass meanwhile (an editor saving in place, or by rename): pgiam reads
    it again and redoes its edit on the new content, so that program's change survives too."""
    cli.static_keys()
    cfg = isolated_env / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f'[services.s1]\nhost = "{HOST}"\nuser = "u1"\nsslmode = "require"\n')
    target = isolated_env / ".pgpass"
    target.write_bytes(b"other.example.com:5432:app:bob:old-password\n")
    target.chmod(0o600)
    env = cli.environ({"PGIAM_TEST_WRITE_DELAY": "0.4", "PGIAM_TEST_WRITE_DELAY_ONLY": ".pgpass"})
    proc = subprocess.Popen([sys.executable, "-m", "pgiam", "refresh"], env=env,
                            cwd=str(isolated_env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_temp(isolated_env, proc)
    edited = b"# edited meanwhile\nother.example.com:5432:app:bob:new\n"
    if how == "in-place":
        with open(target, "r+b") as fh:
            fh.truncate(0)
            fh.write(edited)
    else:
        tmp = isolated_env / "editor-save"
        tmp.write_bytes(edited)
        tmp.chmod(0o600)
        os.replace(tmp, target)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    data = target.read_bytes()
    assert data.startswith(b"# edited meanwhile\n") and b"bob:new\n" in data, data  # lost before the fix
    assert b"old-password" not in data
    found = pgpass.lookup(data, HOST, "5432", "u1", "u1")
    assert found is not None and "X-Amz-Signature=" in found[1]
    assert temp_files(isolated_env) == []
