"""Real-filesystem helpers for tests: forked children, other users, temp-file listing (POSIX only)."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pwd
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

from pgiam.errors import PgiamError

TEST_USER = "pgiam-test-u1"


@contextlib.contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


@contextlib.contextmanager
def tiny_tmpfs(mnt: Path, covered_by: str) -> Iterator[Path]:
    """A 64 KiB tmpfs mounted at mnt (root only; otherwise the test is skipped, naming the test that
    covers write failures without a mount)."""
    if not is_root():
        pytest.skip(f"mounting a 64 KiB tmpfs needs root; {covered_by} covers write failures")
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount tmpfs here ({res.stderr.strip()}); {covered_by} covers write failures")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def temp_files(directory: Path) -> list[str]:
    """Names of pgiam temp files left in ``directory``."""
    return sorted(n for n in os.listdir(directory) if ".pgiam-tmp-" in n)


def other_user() -> tuple[int, int]:
    """(uid, gid) of another user: ``pgiam-test-u1`` (created idempotently when root), else nobody."""
    try:
        pw = pwd.getpwnam(TEST_USER)
    except KeyError:
        if is_root():
            made = subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER],
                check=False,
                capture_output=True,
            )
            if made.returncode == 0:  # the test run that made the user removes it when it ends
                atexit.register(subprocess.run, ["userdel", TEST_USER], check=False, capture_output=True)
        try:
            pw = pwd.getpwnam(TEST_USER)
        except KeyError:
            pw = pwd.getpwnam("nobody")
    assert pw.pw_uid != os.geteuid()
    return pw.pw_uid, pw.pw_gid


def run_in_child(fn: Callable[[], object], *, timeout: float = 20.0) -> tuple[str, str]:
    """Run ``fn`` in a forked child; return ("ok", repr(result)) or (exception class name, message).

    A child that does not finish within ``timeout`` is SIGKILLed and reported as ("timeout", "").
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(r)
            try:
                res: tuple[str, str] = ("ok", repr(fn()))
            except PgiamError as exc:
                res = (type(exc).__name__, str(exc))
            except BaseException as exc:
                res = (type(exc).__name__, str(exc))
            os.write(w, json.dumps(res).encode())
        except BaseException:
            code = 3
        finally:
            os._exit(code)
    os.close(w)
    deadline = time.monotonic() + timeout
    buf = b""
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return ("timeout", "")
            ready, _, _ = select.select([r], [], [], left)
            if ready:
                chunk = os.read(r, 65536)
                if not chunk:
                    break
                buf += chunk
        os.waitpid(pid, 0)
    finally:
        os.close(r)
    if not buf:
        return ("crashed", "")
    outcome, text = json.loads(buf)
    return str(outcome), str(text)


def drop_privileges(uid: int, gid: int) -> None:
    """In a (forked) child running as root: become uid/gid for real (no way back)."""
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def claim(state_file: Path, token: str) -> None:
    """Record ``token`` as one pgiam wrote (as an older run would have), for the entry whose record
    pgiam keeps for the token's pgpass line: tests that plant aged tokens use it."""
    from pgiam.flow import state as st

    s = st.load(state_file)
    h = st.token_hash(token)
    for recs in s.entries.values():
        for rec in recs.values():
            rec.hashes.append(h)
    st.save(state_file, s)


def keys_in_aws_files(home: Path) -> None:
    """Throwaway keys in ~/.aws/credentials (where a scheduled job finds them, unlike the shell's env)."""
    from tests.conftest import TEST_KEY_ID, TEST_SECRET

    creds = home / ".aws" / "credentials"
    creds.parent.mkdir(exist_ok=True)
    creds.write_text(f"[default]\naws_access_key_id = {TEST_KEY_ID}\naws_secret_access_key = {TEST_SECRET}\n")
