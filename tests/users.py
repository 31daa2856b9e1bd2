"""Real second OS users for the hostile-host tests (root only: created with useradd, removed after).

Tests that use them carry ``pytest.mark.root``; tests/conftest.py deselects those when the suite does
not run as root (CI runs as root), so they never count as passed without running.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

USERADD = shutil.which("useradd") or "/usr/sbin/useradd"
USERDEL = shutil.which("userdel") or "/usr/sbin/userdel"
RUNUSER = shutil.which("runuser") or "/usr/sbin/runuser"


@contextlib.contextmanager
def os_users(count: int, prefix: str) -> Iterator[list[pwd.struct_passwd]]:
    """``count`` throwaway Unix users named PREFIX + random hex, each with a home directory of its own
    under one world-searchable directory; deleted (with their homes) afterwards."""
    base = Path(tempfile.mkdtemp(prefix="pgiam-users-"))
    base.chmod(0o755)
    made: list[pwd.struct_passwd] = []
    try:
        for _ in range(count):
            name = prefix + secrets.token_hex(4)
            subprocess.run([USERADD, "-m", "-d", str(base / name), "-s", "/bin/sh", name], check=True,
                           capture_output=True)
            made.append(pwd.getpwnam(name))
        yield made
    finally:
        # -f: even if a process of the user outlived a failed test (userdel would refuse and leave it)
        for u in made:
            subprocess.run([USERDEL, "-r", "-f", u.pw_name], check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def alice() -> Iterator[pwd.struct_passwd]:
    """A throwaway Unix user with a home directory of its own; deleted (with its home) afterwards."""
    try:
        with os_users(1, "pgiamh") as (user,):
            yield user
    finally:
        cleanup_readable()


def own(user: pwd.struct_passwd, *paths: Path) -> None:
    """Give paths (symlinks themselves, not their targets) to ``user``."""
    for p in paths:
        os.lchown(p, user.pw_uid, user.pw_gid)


def link_as(user: pwd.struct_passwd, link: Path, target: Path) -> Path:
    """A symlink ``link -> target`` owned by ``user`` (what that user could plant in a home pgiam uses)."""
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    own(user, link)
    return link


def run_as(user: pwd.struct_passwd, args: list[str], env: dict[str, str],
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m pgiam ARGS` as ``user`` (runuser), with exactly ``env`` plus a readable PYTHONPATH."""
    from tests.host.test_bastion import interpreter, readable_path

    child = {"PATH": "/usr/bin:/bin", "PYTHONPATH": readable_path(), **env}
    argv = [RUNUSER, "-u", user.pw_name, "--", "env", "-i", *[f"{k}={v}" for k, v in child.items()],
            *interpreter(), "-m", "pgiam", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, cwd="/")


def popen_as(user: pwd.struct_passwd, args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    from tests.host.test_bastion import interpreter, readable_path

    child = {"PATH": "/usr/bin:/bin", "PYTHONPATH": readable_path(), **env}
    argv = [RUNUSER, "-u", user.pw_name, "--", "env", "-i", *[f"{k}={v}" for k, v in child.items()],
            *interpreter(), "-m", "pgiam", *args]
    # a session of its own: stop_group() ends runuser and the pgiam under it together
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/",
                            start_new_session=True)


def stop_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the process group of a popen_as child (only that child and what it started)."""
    import signal

    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def cleanup_readable() -> None:
    from tests.host import test_bastion

    for path in test_bastion._readable:
        shutil.rmtree(path, ignore_errors=True)
    test_bastion._readable.clear()
