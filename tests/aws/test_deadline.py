"""Deadlines through the real CLI and the real botocore: a credential_process that hangs is killed
(with whatever it started) after `credential_timeout`, only its profile's services fail, the others
are renewed; and a scheduled `refresh --quiet` never piles up behind one still running."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import Cli

HOST = "db{}.abc123xyz.us-west-2.rds.amazonaws.com"


def hanging_process(tmp_path: Path) -> tuple[Path, Path]:
    """A credential_process that never answers: a shell that starts a child and waits for it."""
    pids = tmp_path / "pids"
    script = tmp_path / "hang.sh"
    script.write_text(f"#!/bin/sh\necho $$ >> {pids}\nsleep 600 &\necho $! >> {pids}\nwait\n")
    script.chmod(0o755)
    return script, pids


def setup(home: Path, tmp_path: Path, timeout: int | None) -> Path:
    script, pids = hanging_process(tmp_path)
    aws = home / ".aws"
    aws.mkdir()
    (aws / "config").write_text(f"[profile slow]\ncredential_process = {script}\n\n[profile fast]\n")
    (aws / "credentials").write_text("[fast]\naws_access_key_id = AKIDFASTPROFILE00001\n"
                                     "aws_secret_access_key = fast-secret\n")
    cfg = home / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True)
    setting = f"credential_timeout = {timeout}\n" if timeout is not None else ""
    cfg.write_text(
        f'[defaults]\n{setting}sslmode = "require"\nuser = "u1"\n\n'
        f'[services.slow1]\nhost = "{HOST.format(1)}"\nprofile = "slow"\n\n'
        f'[services.fast]\nhost = "{HOST.format(2)}"\nprofile = "fast"\n\n'
        f'[services.slow2]\nhost = "{HOST.format(3)}"\nprofile = "slow"\n'
    )
    return pids


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pids: list[int], limit: float = 10.0) -> list[int]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def read_pids(path: Path, n: int, limit: float = 30.0) -> list[int]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if path.exists():
            got = [int(x) for x in path.read_text().split()]
            if len(got) >= n:
                return got
        time.sleep(0.05)
    raise AssertionError(f"the credential_process did not start ({path})")


def test_hanging_credential_process_is_killed_others_renewed(cli: Cli, isolated_env: Path,
                                                             tmp_path: Path) -> None:
    pids_file = setup(isolated_env, tmp_path, timeout=2)
    r = cli("refresh", timeout=60)  # without a deadline this never returns (the cli fixture times out)
    assert r.code == 1, r.err
    errors = [ln for ln in r.err.splitlines() if ln.startswith("pgiam: error:")]
    assert len(errors) == 2 and r.err.count("\n") == 2, r.err  # one line per service of that profile
    for name, line in zip(("slow1", "slow2"), errors):
        assert line.startswith(f"pgiam: error: {name}: ") and "profile 'slow'" in line, r.err
        assert "credential_timeout" in line and "2 s" in line
    assert "fast: refreshed" in r.out
    pgpass = (isolated_env / ".pgpass").read_text()
    assert HOST.format(2) in pgpass and HOST.format(1) not in pgpass and HOST.format(3) not in pgpass
    pids = read_pids(pids_file, 2)
    assert len(pids) == 2, "the profile's credential_process ran once, not once per service"
    assert wait_gone(pids) == [], "the credential_process (or its child) is still running"
    assert "slow1" in (isolated_env / ".local" / "state" / "pgiam" / "state.json").read_text()


def test_credential_timeout_is_bounded(cli: Cli, isolated_env: Path, tmp_path: Path) -> None:
    setup(isolated_env, tmp_path, timeout=601)
    r = cli("refresh")
    assert r.code == 2 and "credential_timeout" in r.err and "1-600" in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1


def test_scheduled_refresh_does_not_pile_up(cli: Cli, isolated_env: Path, tmp_path: Path) -> None:
    pids_file = setup(isolated_env, tmp_path, timeout=None)  # the default deadline (30 s) is longer than this test
    first = subprocess.Popen([sys.executable, "-m", "pgiam", "refresh", "--quiet"], env=cli.environ(),
                             cwd=str(isolated_env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        read_pids(pids_file, 2)  # the first run is stuck in the credential_process now
        r = cli("refresh", "--quiet", timeout=30)
        assert r.code == 1, r.err
        lines = r.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("pgiam: error: ") and "still running" in lines[0], r.err
        assert first.poll() is None
        assert len(read_pids(pids_file, 2)) == 2  # the second run started no credential_process
        # an interactive refresh (not --quiet) is not refused: it is someone at a terminal
        r2 = cli("refresh", "fast", timeout=30)
        assert r2.code == 0 and "fast: refreshed" in r2.out, r2.err
    finally:
        first.kill()
        first.communicate()
        for p in read_pids(pids_file, 2):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, 9)
    # once the stuck run is gone the next scheduled run proceeds (the lock died with its holder)
    (isolated_env / ".config" / "pgiam" / "config.toml").write_text(
        f'[services.fast]\nhost = "{HOST.format(2)}"\nprofile = "fast"\nuser = "u1"\nsslmode = "require"\n')
    r3 = cli("refresh", "--quiet", "--force", timeout=30)
    assert r3.code == 0 and r3.err == "", r3.err
