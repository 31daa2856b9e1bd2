"""pgiam.atomic on a real filesystem: content, modes, locking, crashes, failures and symlink safety."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

if os.name == "nt":  # pragma: no cover
    pytest.skip("POSIX-only: uses fork, SIGKILL, FIFOs and uids", allow_module_level=True)

from pgiam import output
from pgiam.atomic import read_file, update_file
from pgiam.errors import FileSafetyError, PgiamError
from tests import helpers_fs
from tests.conftest import Cli
from tests.helpers_fs import drop_privileges, is_root, other_user, run_in_child, temp_files, umask

REPO = Path(__file__).resolve().parents[2]
DELAY_ENV = "PGIAM_TEST_WRITE_DELAY"


def const(data: bytes | None) -> Callable[[bytes | None], bytes | None]:
    return lambda _cur: data


def mode_of(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def warnings_of(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The `pgiam: ...` notice lines written to stderr since the last call."""
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("pgiam: ")]


def one_line_error(msg: str, path: Path) -> None:
    assert "\n" not in msg
    assert str(path) in msg


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.pop(DELAY_ENV, None)
    env.update(extra)
    return env


# --- content -------------------------------------------------------------------------------------


def test_content_replaced_exactly_and_transform_sees_current(tmp_path: Path) -> None:
    target = tmp_path / ".pgpass"
    first = b"odd\x00bytes\xff\r\nno trailing newline"
    seen: list[bytes | None] = []

    def t1(cur: bytes | None) -> bytes:
        seen.append(cur)
        return first

    assert update_file(target, t1, private=True)
    assert target.read_bytes() == first
    second = b"h:5432:db:u:tok\\:en\r\n# comment\n"

    def t2(cur: bytes | None) -> bytes:
        seen.append(cur)
        return second

    assert update_file(target, t2, private=True)
    assert target.read_bytes() == second
    assert seen == [None, first]
    assert temp_files(tmp_path) == []


def test_unchanged_content_is_not_written(tmp_path: Path) -> None:
    target = tmp_path / ".pgpass"
    update_file(target, const(b"same\n"), private=True)
    past = 1_500_000_000_123_456_789
    os.utime(target, ns=(past, past))
    before = os.stat(target)
    assert not update_file(target, lambda cur: cur, private=True)
    assert not update_file(target, const(b"same\n"), private=False)
    after = os.stat(target)
    assert after.st_mtime_ns == past
    assert (after.st_ino, after.st_ctime_ns) == (before.st_ino, before.st_ctime_ns)
    assert temp_files(tmp_path) == []


def test_none_deletes_and_missing_stays_missing(tmp_path: Path) -> None:
    target = tmp_path / ".pgpass"
    assert not update_file(target, const(None), private=True)
    assert not target.exists()
    update_file(target, const(b"x\n"), private=True)
    assert update_file(target, const(None), private=True)
    assert not target.exists()
    assert temp_files(tmp_path) == []


def test_transform_error_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / ".pgpass"
    update_file(target, const(b"old\n"), private=True)
    before = os.stat(target)

    def boom(_cur: bytes | None) -> bytes:
        raise PgiamError("bad entry")

    with pytest.raises(PgiamError, match="bad entry"):
        update_file(target, boom, private=True)
    assert target.read_bytes() == b"old\n"
    assert os.stat(target).st_mtime_ns == before.st_mtime_ns
    assert temp_files(tmp_path) == []


def test_fifty_megabyte_file_is_fine(tmp_path: Path) -> None:
    target = tmp_path / ".pgpass"
    big = b"h:5432:db:u:" + b"x" * (50 * 1024 * 1024) + b"\n"
    update_file(target, const(big), private=True)
    assert update_file(target, lambda cur: (cur or b"") + b"tail\n", private=True)
    assert read_file(target) == big + b"tail\n"


def test_read_file(tmp_path: Path) -> None:
    assert read_file(tmp_path / "missing-dir" / ".pgpass") is None
    assert read_file(tmp_path / ".pgpass") is None
    (tmp_path / ".pgpass").write_bytes(b"a\r\nb")
    assert read_file(tmp_path / ".pgpass") == b"a\r\nb"


# --- modes ---------------------------------------------------------------------------------------


def test_private_file_is_0600_under_umask_000(tmp_path: Path) -> None:
    target = tmp_path / ".pgpass"
    with umask(0):
        update_file(target, const(b"a\n"), private=True)
    assert mode_of(target) == 0o600
    assert sorted(os.listdir(tmp_path)) == [".pgpass", "home"]  # no lock file beside the target
    locks = list((tmp_path / "home" / ".local" / "state" / "pgiam" / "locks").iterdir())
    assert len(locks) == 1 and locks[0].is_file()
    assert mode_of(locks[0]) == 0o600


def test_private_fixes_group_other_bits_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The writer reports the mode it fixed (the flow words the warning); it prints nothing itself."""
    target = tmp_path / ".pgpass"
    target.write_bytes(b"old\n")
    os.chmod(target, 0o644)
    w = update_file(target, const(b"new\n"), private=True)
    assert w and w.fixed_mode == 0o644 and mode_of(target) == 0o600
    # Already private: further writes and no-op calls report nothing.
    w = update_file(target, const(b"newer\n"), private=True)
    assert w and w.fixed_mode is None
    w = update_file(target, const(b"newer\n"), private=True)
    assert not w and w.fixed_mode is None
    # same content, but too open: fixed, reported, content untouched
    os.chmod(target, 0o640)
    w = update_file(target, const(b"newer\n"), private=True)
    assert not w and w.fixed_mode == 0o640 and mode_of(target) == 0o600
    assert warnings_of(capsys) == []


def test_the_cli_words_the_mode_fix_once(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    assert cli("add", "prod", "--host", "db1.abc123xyz.us-west-2.rds.amazonaws.com", "--user", "a").code == 0
    target = isolated_env / ".pgpass"
    os.chmod(target, 0o644)
    r = cli("refresh")
    assert r.code == 0 and r.err == (f"pgiam: warning: {target} had mode 0644; fixed to 0600 (libpq ignores a "
                                     "password file readable by group or others)\n")
    assert mode_of(target) == 0o600
    assert cli("--quiet", "refresh", "--force").err == ""


def test_no_warning_for_new_or_private_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output.reset()
    update_file(tmp_path / "p", const(b"a\n"), private=True)
    svc = tmp_path / "svc"
    svc.write_bytes(b"[a]\n")
    os.chmod(svc, 0o644)
    update_file(svc, const(b"[b]\n"), private=False)
    assert warnings_of(capsys) == []


def test_service_file_keeps_mode_and_group(tmp_path: Path) -> None:
    svc = tmp_path / "pg_service.conf"
    svc.write_bytes(b"[a]\nhost=x\n")
    os.chmod(svc, 0o640)
    gid = svc.stat().st_gid
    if is_root():
        _uid, gid = other_user()
        os.chown(svc, 0, gid)
    else:
        others = [g for g in os.getgroups() if g != gid]
        if others:
            os.chown(svc, -1, others[0])
            gid = others[0]
    assert update_file(svc, lambda cur: (cur or b"") + b"port=5432\n", private=False)
    st = svc.stat()
    assert svc.read_bytes() == b"[a]\nhost=x\nport=5432\n"
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert st.st_gid == gid
    assert st.st_uid == os.geteuid()


@pytest.mark.parametrize(("mask", "expected"), [(0o000, 0o644), (0o022, 0o644), (0o027, 0o640)])
def test_new_service_file_mode_follows_umask(tmp_path: Path, mask: int, expected: int) -> None:
    svc = tmp_path / "pg_service.conf"
    with umask(mask):
        update_file(svc, const(b"[a]\n"), private=False)
    assert mode_of(svc) == expected


@pytest.mark.parametrize("private", [True, False])
def test_temp_file_is_0600_while_being_written(tmp_path: Path, private: bool) -> None:
    target = tmp_path / "f"
    data = b"y" * (40 * 1024)  # 10 chunks at 0.05 s each: the temp file lives ~0.5 s

    pid = os.fork()
    if pid == 0:
        try:
            os.umask(0)
            os.environ[DELAY_ENV] = "0.05"
            update_file(target, const(data), private=private)
        finally:
            os._exit(0)
    try:
        seen: list[int] = []
        deadline = time.monotonic() + 20
        while not seen and time.monotonic() < deadline:
            for name in temp_files(tmp_path):
                with contextlib.suppress(FileNotFoundError):
                    st = os.lstat(tmp_path / name)
                    assert stat.S_ISREG(st.st_mode)
                    assert st.st_uid == os.geteuid()
                    seen.append(stat.S_IMODE(st.st_mode))
        assert seen, "never saw the temp file"
        assert set(seen) == {0o600}
    finally:
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert target.read_bytes() == data
    assert mode_of(target) == (0o600 if private else 0o644)
    assert temp_files(tmp_path) == []


# --- directories ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mask", [0o000, 0o277])  # 0o277 would leave mkdir(0o700) at 0500
def test_missing_parents_created_0700(tmp_path: Path, mask: int) -> None:
    os.chmod(tmp_path, 0o755)
    target = tmp_path / "a" / "b" / "c" / ".pgpass"
    with umask(mask):
        update_file(target, const(b"x\n"), private=True)
    assert target.read_bytes() == b"x\n"
    assert mode_of(target) == 0o600
    for d in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"):
        assert mode_of(d) == 0o700
    assert mode_of(tmp_path) == 0o755  # existing directories are left alone


def test_stale_temp_files_removed_only_when_ours_and_regular(tmp_path: Path) -> None:
    target = tmp_path / ".pgpass"
    target.write_bytes(b"x\n")
    os.chmod(target, 0o600)
    stale = tmp_path / "..pgpass.pgiam-tmp-deadbeef"
    stale.write_bytes(b"half a tok")
    as_dir = tmp_path / "..pgpass.pgiam-tmp-adir"
    as_dir.mkdir()
    as_link = tmp_path / "..pgpass.pgiam-tmp-alink"
    as_link.symlink_to(target)
    other_name = tmp_path / ".other.pgiam-tmp-1234"  # another file's temp: not ours to judge
    other_name.write_bytes(b"")
    foreign = tmp_path / "..pgpass.pgiam-tmp-foreign"
    if is_root():
        foreign.write_bytes(b"")
        uid, gid = other_user()
        os.chown(foreign, uid, gid)
    # Even a no-op update cleans up (it holds the lock, so those files are certainly stale).
    assert not update_file(target, lambda cur: cur, private=True)
    assert not stale.exists()
    assert as_dir.is_dir() and as_link.is_symlink() and other_name.exists()
    assert foreign.exists() == is_root()


# --- locking and concurrency ---------------------------------------------------------------------

CONCURRENT_CHILD = r"""
import os, sys, time
from pathlib import Path
from pgiam.atomic import update_file
path, n, go = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
while not os.path.exists(go):
    time.sleep(0.002)
prefix = ("h%s:5432:db:u%s:" % (n, n)).encode()
for i in range(3):
    def put(cur, i=i):
        lines = [l for l in (cur or b"").splitlines(keepends=True) if not l.startswith(prefix)]
        return b"".join(lines) + prefix + b"tok" + str(i).encode() + b"\n"
    update_file(path, put, private=True)
"""


def test_twenty_processes_no_lost_update(tmp_path: Path) -> None:
    target = tmp_path / ".pgpass"
    target.write_bytes(b"# keep me\n")
    os.chmod(target, 0o600)
    go = tmp_path / "go"
    env = child_env(**{DELAY_ENV: "0.002"})  # widen the read→rename window: a missing lock loses updates
    procs = [
        subprocess.Popen([sys.executable, "-c", CONCURRENT_CHILD, str(target), str(n), str(go)], env=env)
        for n in range(20)
    ]
    go.write_bytes(b"")
    codes = [p.wait(timeout=120) for p in procs]
    assert codes == [0] * 20
    lines = target.read_bytes().splitlines()
    assert lines[0] == b"# keep me"
    entries = [line.split(b":") for line in lines[1:]]
    assert all(len(e) == 5 for e in entries)
    assert sorted(entries) == sorted([[b"h%d" % n, b"5432", b"db", b"u%d" % n, b"tok2"] for n in range(20)])
    assert temp_files(tmp_path) == []
    assert mode_of(target) == 0o600


def test_lock_timeout_is_a_clear_error(tmp_path: Path) -> None:
    import filelock

    target = tmp_path / ".pgpass"
    update_file(target, const(b"old\n"), private=True)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            lock = filelock.FileLock(str(tmp_path / "..pgpass.pgiam.lock"))
            lock.acquire()
            os.write(w, b"locked")
            time.sleep(60)
        finally:
            os._exit(0)
    os.close(w)
    try:
        assert os.read(r, 16) == b"locked"
        with pytest.raises(FileSafetyError) as ei:
            update_file(target, const(b"new\n"), private=True, lock_timeout=0.3)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(r)
    one_line_error(str(ei.value), target)
    assert "lock" in str(ei.value)
    assert target.read_bytes() == b"old\n"
    # The dead holder's flock is gone with it: the next writer proceeds.
    assert update_file(target, const(b"new\n"), private=True, lock_timeout=5)


@pytest.mark.slow
def test_sigkill_mid_write_leaves_old_or_new(tmp_path: Path) -> None:
    target = tmp_path / ".pgpass"
    a = b"".join(b"ha%05d:5432:db:u:" % i + b"a" * 50 + b"\n" for i in range(1200))  # ~80 KiB
    b = b"".join(b"hb%05d:5432:db:u:" % i + b"b" * 40 + b"\n" for i in range(1000))
    update_file(target, const(a), private=True)

    def toggle(cur: bytes | None) -> bytes:
        return b if cur == a else a

    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    kills = mid_write = changes = 0
    last = a
    # At least 200 kills; keep going (bounded) until enough of them provably landed mid-write and
    # enough writes completed between kills, so a loaded CI machine slows the test instead of failing it.
    while kills < 200 or ((mid_write < 20 or changes < 20) and kills < 2000):
        pid = os.fork()
        if pid == 0:
            try:
                os.environ[DELAY_ENV] = "0.0005"
                while True:
                    update_file(target, toggle, private=True)
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0.0, 0.03))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        kills += 1
        content = target.read_bytes()
        assert content in (a, b), f"torn file after kill {kills} (seed {seed})"
        assert mode_of(target) == 0o600
        changes += content != last
        last = content
        mid_write += bool(temp_files(tmp_path))
    # The kills really landed mid-write, and writes really completed between kills.
    assert mid_write >= 20, (mid_write, seed)
    assert changes >= 20, (changes, seed)
    assert update_file(target, toggle, private=True)
    assert target.read_bytes() == (b if last == a else a)
    assert temp_files(tmp_path) == []


# --- write failures ------------------------------------------------------------------------------

OLD = b"h:5432:db:u:old-token\n"
NEW = b"h:5432:db:u:" + b"n" * (64 * 1024) + b"\n"


def assert_failed_cleanly(msg: str, target: Path, reason: str) -> None:
    one_line_error(msg, target)
    assert reason in msg
    assert "nothing was changed" in msg
    assert target.read_bytes() == OLD
    assert temp_files(target.parent) == []


def _readonly_scenario(d: Path) -> None:
    """As a non-root owner of ``d``: write OLD, make ``d`` 0500, try NEW (raises), restore ``d``."""
    target = d / ".pgpass"
    update_file(target, const(OLD), private=True)
    os.chmod(d, 0o500)
    try:
        update_file(target, const(NEW), private=True)
    finally:
        os.chmod(d, 0o700)


def _chattr(flag: str, d: Path) -> bool:
    """chattr +i/-i (needs CAP_LINUX_IMMUTABLE and a filesystem that supports it)."""
    try:
        return subprocess.run(["chattr", flag, str(d)], capture_output=True).returncode == 0
    except OSError:
        return False


def test_readonly_directory(tmp_path: Path) -> None:
    d = tmp_path / "ro"
    d.mkdir()
    target = d / ".pgpass"
    if not is_root():
        with pytest.raises(FileSafetyError) as ei:
            _readonly_scenario(d)
        assert_failed_cleanly(str(ei.value), target, "Permission denied")
        return
    # Root bypasses DAC: make the directory immutable instead, or act as an unprivileged user.
    update_file(target, const(OLD), private=True)
    if _chattr("+i", d):
        try:
            with pytest.raises(FileSafetyError) as ei:
                update_file(target, const(NEW), private=True)
        finally:
            assert _chattr("-i", d)
        assert_failed_cleanly(str(ei.value), target, "Operation not permitted")
        return
    uid, gid = other_user()
    base = Path(tempfile.mkdtemp(prefix="pgiam-ro-"))
    try:
        os.chmod(base, 0o755)
        d2 = base / "ro"
        d2.mkdir()
        os.chown(d2, uid, gid)

        def as_user() -> None:
            drop_privileges(uid, gid)
            _readonly_scenario(d2)

        outcome, msg = run_in_child(as_user)
        assert outcome == "FileSafetyError", (outcome, msg)
        assert_failed_cleanly(msg, d2 / ".pgpass", "Permission denied")
    finally:
        shutil.rmtree(base)


def test_write_failure_efbig(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes write(2) itself fail (EFBIG) midway through the temp file: a real I/O error."""
    import resource

    target = tmp_path / ".pgpass"
    update_file(target, const(OLD), private=True)

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, resource.RLIM_INFINITY))
        update_file(target, const(NEW), private=True)

    outcome, msg = run_in_child(limited)
    assert outcome == "FileSafetyError", (outcome, msg)
    assert_failed_cleanly(msg, target, "File too large")


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    with helpers_fs.tiny_tmpfs(tmp_path / "mnt", "test_write_failure_efbig") as mnt:
        yield mnt


def test_write_failure_enospc(tiny_tmpfs: Path) -> None:
    target = tiny_tmpfs / ".pgpass"
    update_file(target, const(OLD), private=True)
    with open(tiny_tmpfs / "filler", "wb", buffering=0) as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"f" * 4096)
    with pytest.raises(FileSafetyError) as ei:
        update_file(target, const(NEW), private=True)
    os.unlink(tiny_tmpfs / "filler")
    assert_failed_cleanly(str(ei.value), target, "No space left on device")


def test_write_failure_erofs(tiny_tmpfs: Path) -> None:
    target = tiny_tmpfs / ".pgpass"
    update_file(target, const(OLD), private=True)
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_tmpfs)], check=True)
    with pytest.raises(FileSafetyError) as ei:
        update_file(target, const(NEW), private=True)
    assert_failed_cleanly(str(ei.value), target, "Read-only file system")


# --- symlinks and ownership ----------------------------------------------------------------------


def test_symlink_to_own_file_is_written_through(tmp_path: Path) -> None:
    real_dir = tmp_path / "store"
    real_dir.mkdir()
    real = real_dir / "pgpass"
    real.write_bytes(b"old\n")
    os.chmod(real, 0o600)
    link = tmp_path / ".pgpass"
    link.symlink_to(os.path.join("store", "pgpass"))  # relative link
    chained = tmp_path / "pgpass-chain"
    chained.symlink_to(link)
    assert update_file(chained, const(b"new\n"), private=True)
    assert link.is_symlink() and chained.is_symlink()
    assert os.readlink(link) == os.path.join("store", "pgpass")
    assert real.read_bytes() == b"new\n"
    assert mode_of(real) == 0o600
    assert read_file(link) == b"new\n"
    assert temp_files(tmp_path) == [] and temp_files(real_dir) == []


def test_dangling_own_symlink_creates_target(tmp_path: Path) -> None:
    link = tmp_path / ".pgpass"
    link.symlink_to(tmp_path / "elsewhere" / "pgpass")
    update_file(link, const(b"x\n"), private=True)
    assert link.is_symlink()
    assert (tmp_path / "elsewhere" / "pgpass").read_bytes() == b"x\n"


@pytest.fixture
def foreign_file(tmp_path: Path) -> Path:
    """A regular file not owned by us (root: chowned to another user; else a root-owned system file)."""
    if is_root():
        uid, gid = other_user()
        f = tmp_path / "theirs"
        f.write_bytes(b"their secret\n")
        os.chmod(f, 0o600)
        os.chown(f, uid, gid)
        return f
    for cand in ("/etc/passwd", "/etc/hostname", "/bin/sh"):
        p = Path(cand).resolve()
        if p.is_file() and p.stat().st_uid != os.geteuid():
            return p
    pytest.fail("no file owned by another user found")


def test_symlink_to_foreign_file_refused(tmp_path: Path, foreign_file: Path) -> None:
    link = tmp_path / ".pgpass"
    link.symlink_to(foreign_file)
    before = (foreign_file.read_bytes(), os.stat(foreign_file).st_mtime_ns)
    with pytest.raises(FileSafetyError) as ei:
        update_file(link, const(b"pwned\n"), private=True)
    msg = str(ei.value)
    one_line_error(msg, link)
    assert "symlink" in msg and "owned by" in msg and f"(uid {foreign_file.stat().st_uid})" in msg
    with pytest.raises(FileSafetyError):
        read_file(link)
    assert (foreign_file.read_bytes(), os.stat(foreign_file).st_mtime_ns) == before
    assert link.is_symlink()


def test_symlink_into_foreign_directory_refused(tmp_path: Path) -> None:
    if is_root():
        uid, gid = other_user()
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o755)
        os.chown(theirs, uid, gid)
        target = theirs / "pgpass"
    else:
        target = Path("/") / "pgiam-test-should-not-exist"
    link = tmp_path / ".pgpass"
    link.symlink_to(target)
    with pytest.raises(FileSafetyError) as ei:
        update_file(link, const(b"x\n"), private=True)
    one_line_error(str(ei.value), link)
    assert "owned by" in str(ei.value) and f"(uid {target.parent.stat().st_uid})" in str(ei.value)
    assert not target.exists()


@pytest.mark.skipif(not is_root(), reason="only root can create files owned by another user")
def test_bastion_attack_user_symlink_to_root_file_refused(tmp_path: Path) -> None:
    """A user's ~/.pgpass -> /etc/shadow (stand-in owned by root) while pgiam runs as root: refused."""
    uid, gid = other_user()
    home = tmp_path / "victim-home"
    home.mkdir(mode=0o755)
    os.chown(home, uid, gid)
    shadow = tmp_path / "shadow"
    shadow.write_bytes(b"root:$6$hash:::\n")
    os.chmod(shadow, 0o640)
    link = home / ".pgpass"
    link.symlink_to(shadow)
    os.lchown(link, uid, gid)
    with pytest.raises(FileSafetyError) as ei:
        update_file(link, const(b"*:*:*:*:pwned\n"), private=True)
    msg = str(ei.value)
    one_line_error(msg, link)
    assert f"(uid {uid})" in msg and "symlink" in msg
    assert shadow.read_bytes() == b"root:$6$hash:::\n"
    assert mode_of(shadow) == 0o640


@pytest.mark.skipif(not is_root(), reason="the root-refuses-other-users'-files rule applies only to root")
def test_root_refuses_other_users_file_and_directory(tmp_path: Path) -> None:
    uid, gid = other_user()
    home = tmp_path / "victim-home"
    home.mkdir(mode=0o755)  # traversable
    os.chown(home, uid, gid)
    # 1. existing file owned by the user, in the user's directory
    f = home / ".pgpass"
    f.write_bytes(b"theirs\n")
    os.chmod(f, 0o600)
    os.chown(f, uid, gid)
    with pytest.raises(FileSafetyError) as ei:
        update_file(f, const(b"root wrote this\n"), private=True)
    msg = str(ei.value)
    one_line_error(msg, f)
    assert "as root" in msg and "--user" in msg
    assert f.read_bytes() == b"theirs\n" and f.stat().st_uid == uid
    # 2. a new file in the user's directory
    svc = home / ".pg_service.conf"
    with pytest.raises(FileSafetyError, match="--user"):
        update_file(svc, const(b"[a]\n"), private=False)
    assert not svc.exists()
    # 3. missing parents below the user's directory: nothing is created
    deep = home / "cfg" / "pgpass"
    with pytest.raises(FileSafetyError, match="--user"):
        update_file(deep, const(b"x\n"), private=True)
    assert not (home / "cfg").exists()
    # 4. a root-owned file inside the user's directory is still refused (they control the directory)
    mine = home / "rootfile"
    mine.write_bytes(b"r\n")
    with pytest.raises(FileSafetyError, match="--user"):
        update_file(mine, const(b"x\n"), private=True)
    assert [n for n in os.listdir(home) if "pgiam" in n] == []


@pytest.mark.skipif(not is_root(), reason="only root can chown a file to another user")
def test_root_refuses_foreign_file_in_own_directory(tmp_path: Path, foreign_file: Path) -> None:
    before = foreign_file.read_bytes()
    with pytest.raises(FileSafetyError, match="--user"):
        update_file(foreign_file, const(b"x\n"), private=True)
    assert foreign_file.read_bytes() == before


def _make_special(kind: str, p: Path) -> socket.socket | None:
    if kind == "directory":
        p.mkdir()
    elif kind == "fifo":
        os.mkfifo(p)
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(p))
        return s
    return None


@pytest.mark.parametrize(
    ("kind", "word"), [("directory", "directory"), ("fifo", "FIFO"), ("socket", "socket")]
)
@pytest.mark.parametrize("via_link", [False, True])
def test_special_targets_refused_without_blocking(
    tmp_path: Path, kind: str, word: str, via_link: bool
) -> None:
    special = tmp_path / "special"
    sock = _make_special(kind, special)
    try:
        path = special
        if via_link:
            path = tmp_path / ".pgpass"
            path.symlink_to(special)
        before = os.lstat(special)
        for fn in (
            lambda: update_file(path, const(b"x\n"), private=True),
            lambda: update_file(path, const(None), private=False),
            lambda: read_file(path),
        ):
            outcome, msg = run_in_child(fn, timeout=15)  # a blocked FIFO open shows up as "timeout"
            assert outcome == "FileSafetyError", (outcome, msg)
            one_line_error(msg, path)
            assert word in msg
        after = os.lstat(special)
        assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before.st_mode)
        assert after.st_ino == before.st_ino
        if kind == "directory":
            assert os.listdir(special) == []
        assert temp_files(tmp_path) == []
    finally:
        if sock is not None:
            sock.close()


def test_parent_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(FileSafetyError) as ei:
        update_file(tmp_path / "f" / ".pgpass", const(b"x\n"), private=True)
    one_line_error(str(ei.value), tmp_path / "f" / ".pgpass")
