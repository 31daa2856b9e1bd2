"""Write failures through the CLI: EFBIG (a real write(2) error), ENOSPC, a read-only file system and
a read-only directory. Each: exit 1, one clear error line, the old pgpass byte-identical, no temp file.
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import helpers_fs
from tests.conftest import Cli
from tests.helpers_fs import is_root, temp_files

if os.name == "nt":  # pragma: no cover
    pytest.skip("POSIX-only", allow_module_level=True)

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"
OLD = b"# mine\n" + b"".join(b"h%04d:5432:db:u:" % i + b"x" * 40 + b"\n" for i in range(300))  # ~17 KiB


def configure(home: Path) -> None:
    cfg = home / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(f'[services.fail]\nhost = "{HOST}"\nuser = "u1"\ndbname = "postgres"\n'
                   'sslmode = "require"\n')


def seed(pgpass: Path) -> None:
    pgpass.write_bytes(OLD)
    pgpass.chmod(0o600)


def assert_failed_cleanly(code: int, err: str, pgpass: Path, reason: str) -> None:
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(pgpass) in lines[0] and reason in lines[0] and "nothing was changed" in lines[0], err
    assert pgpass.read_bytes() == OLD
    assert temp_files(pgpass.parent) == []


def run(cli: Cli, *args: str, env: dict[str, str] | None = None,
        preexec: object = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pgiam", *args], env=cli.environ(env), cwd=str(cli.home),
                          capture_output=True, text=True, timeout=60, check=False,
                          preexec_fn=preexec)  # type: ignore[arg-type]


def test_io_error_efbig(cli: Cli, isolated_env: Path) -> None:
    """RLIMIT_FSIZE in the child makes write(2) of the temp file fail midway (EFBIG)."""
    cli.static_keys()
    configure(isolated_env)
    pgpass = isolated_env / ".pgpass"
    seed(pgpass)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, resource.RLIM_INFINITY))

    r = run(cli, "refresh", preexec=limit)
    assert_failed_cleanly(r.returncode, r.stderr, pgpass, "File too large")


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    with helpers_fs.tiny_tmpfs(tmp_path / "mnt", "test_io_error_efbig") as mnt:
        yield mnt


def test_enospc(cli: Cli, isolated_env: Path, tiny_tmpfs: Path) -> None:
    cli.static_keys()
    configure(isolated_env)
    pgpass = tiny_tmpfs / "pgpass"
    seed(pgpass)
    with open(tiny_tmpfs / "filler", "wb", buffering=0) as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"f" * 4096)
    r = run(cli, "refresh", env={"PGPASSFILE": str(pgpass)})
    os.unlink(tiny_tmpfs / "filler")
    assert_failed_cleanly(r.returncode, r.stderr, pgpass, "No space left on device")


def test_read_only_file_system(cli: Cli, isolated_env: Path, tiny_tmpfs: Path) -> None:
    cli.static_keys()
    configure(isolated_env)
    pgpass = tiny_tmpfs / "pgpass"
    seed(pgpass)
    (tiny_tmpfs / ".pgpass.pgiam.lock").touch(0o600)  # the lock file exists from an earlier run
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_tmpfs)], check=True)
    r = run(cli, "refresh", env={"PGPASSFILE": str(pgpass)})
    assert r.returncode == 1, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and str(pgpass) in r.stderr, r.stderr
    assert "Read-only file system" in r.stderr
    assert pgpass.read_bytes() == OLD


def _chattr(flag: str, d: Path) -> bool:
    try:
        return subprocess.run(["chattr", flag, str(d)], capture_output=True).returncode == 0
    except OSError:
        return False


def test_read_only_directory(cli: Cli, isolated_env: Path, tmp_path: Path) -> None:
    cli.static_keys()
    configure(isolated_env)
    d = tmp_path / "ro"
    d.mkdir()
    pgpass = d / "pgpass"
    seed(pgpass)
    (d / ".pgpass.pgiam.lock").touch(0o600)
    env = {"PGPASSFILE": str(pgpass)}
    if not is_root():
        d.chmod(0o500)
        try:
            r = run(cli, "refresh", env=env)
        finally:
            d.chmod(0o700)
        assert_failed_cleanly(r.returncode, r.stderr, pgpass, "Permission denied")
        return
    if _chattr("+i", d):  # root ignores mode bits; an immutable directory stops it
        try:
            r = run(cli, "refresh", env=env)
        finally:
            assert _chattr("-i", d)
        assert_failed_cleanly(r.returncode, r.stderr, pgpass, "Operation not permitted")
        return
    pytest.skip("chattr +i not supported on this file system")  # pragma: no cover
