"""The one I/O primitive for every file pgiam writes: lock, read, transform, write, rename.

``update_file`` takes an inter-process lock, reads the current bytes, asks a pure ``transform`` for the
new bytes and, only when they differ, writes a 0600 temp file in the same directory, fsyncs it, gives
it its final mode and renames it over the target. A reader (libpq) sees either the old or the new
file, never a mix; a killed writer leaves at most a stale temp file that the next pgiam run of any
kind removes (see ``sweep``).

Paths are walked one component at a time with directory file descriptors (``openat`` with
``O_NOFOLLOW``); every later step (lock, read, temp file, rename, delete) works relative to the
directory descriptor that was checked, so a path swapped after the check changes nothing.

Safety rules (a user must not be able to make pgiam write somewhere they could not write themselves,
e.g. ``~/.pgpass -> /etc/shadow`` or ``~/.config/pgiam -> /etc/pgiam`` while pgiam runs as root):

* Running as root, every symlink on the way, at any depth, must be owned by root; directories are
  never created through (or inside a directory reached through) another user's link, and only
  inside directories owned by root.
* A symlinked target (last component) is followed only when every link in the chain, the final file
  (if it exists) and the final file's directory are owned by the invoking user; otherwise
  FileSafetyError.
* Running as root, pgiam never writes into a file or directory owned by another user (``--user NAME``
  drops privileges first).
* The target must be a regular file when it exists; directories, FIFOs, sockets and devices are
  refused without being opened (a FIFO is never opened, so it cannot block us).

Locks live in pgiam's own directory (``locks/`` beside the state file), named after a hash of the
target's real path, so nothing but the target itself appears beside the user's files. A lock file
that an older pgiam left beside the target (``.NAME.pgiam.lock``) is taken as well when it exists,
so old and new versions still exclude each other. Lock files are never deleted.

Lost updates by other writers: just before the rename the target is compared with what was read
(inode, size, mtime); when another program changed it meanwhile, the file is read again and the
transform redone (a few times at most). What remains is the few microseconds between that check and
the rename.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from typing import TYPE_CHECKING

from pgiam.errors import FileSafetyError

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Callable

__all__ = ["read_file", "remove", "sweep", "try_lock", "update_file"]

_O_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)
_O_BINARY: int = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
_O_CLOEXEC: int = getattr(os, "O_CLOEXEC", 0)
_O_DIRECTORY: int = getattr(os, "O_DIRECTORY", 0)
# O_PATH (Linux): a directory descriptor that needs only search permission (a 0711 home still works)
_O_PATH: int = getattr(os, "O_PATH", 0)
# Windows has no Unix mode bits (st_mode says 0666/0444): never claim a pgpass was "fixed to 0600" there.
_MODE_BITS = os.name != "nt"
# Walk with directory descriptors where the OS has openat() (every POSIX system pgiam runs on).
_DIRFD = os.name != "nt" and os.open in os.supports_dir_fd and os.mkdir in os.supports_dir_fd

_CHUNK = 4096
_MAX_SYMLINKS = 40
_TMP_INFIX = ".pgiam-tmp-"
_LEGACY_LOCK = ".{}.pgiam.lock"  # where pgiam <= 0.x kept its lock: beside the target
_CARRY = hasattr(os, "pread") and os.name != "nt"  # appends during a rewrite are carried over (POSIX)
_RETRIES = 5  # re-reads when another program changed the target between our read and our rename

# TEST-ONLY hook: when set (seconds, float), the writer sleeps that long after every 4 KiB chunk of
# the temp file and once more before the rename, so tests can inspect the temp file or SIGKILL the
# writer mid-write; PGIAM_TEST_WRITE_DELAY_ONLY=NAME limits it to the file of that name. Never set it in
# production; it only slows pgiam down.
_WRITE_DELAY_ENV = "PGIAM_TEST_WRITE_DELAY"

_KIND_NAMES = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def _euid() -> int | None:
    """The effective uid, or None where ownership is not a POSIX concept (Windows)."""
    geteuid = getattr(os, "geteuid", None)
    return int(geteuid()) if geteuid is not None else None


def _is_root() -> bool:
    return _euid() == 0


def _root_hint() -> str:
    return "run pgiam as that user, or use `pgiam --user NAME`, which drops privileges first"


def _kind(mode: int) -> str:
    return _KIND_NAMES.get(stat.S_IFMT(mode), "not a regular file")


def _err_text(exc: OSError) -> str:
    if exc.strerror:
        return exc.strerror
    if exc.errno is not None:
        return os.strerror(exc.errno)
    return str(exc)


def _umask() -> int:
    """The process umask without a window where it is changed (Linux), else the classic dance."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o077)
    os.umask(old)
    return old


def _who(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def _close(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


# --- walking a path with directory descriptors --------------------------------------------------------


class _Missing(Exception):
    """A directory on the way does not exist (and was not to be created)."""


class _OSFailure(FileSafetyError):
    """The OS refused (read-only file system, permissions), as opposed to a safety refusal."""


def _dir_flags() -> int:
    return (_O_PATH or os.O_RDONLY) | _O_DIRECTORY | _O_CLOEXEC


def _open_dir(path: str, shown: str, verb: str, create: bool) -> tuple[int | None, str]:
    """Open the directory ``path`` (absolute) component by component; returns (fd, real path).

    Symlinks on the way are followed by hand. Running as root, each must be owned by root. Missing
    directories are created (mode 0700) when ``create``; as root only inside directories root owns.
    Raises _Missing when a directory is missing and not to be created, FileSafetyError otherwise.
    On systems without openat (Windows) the fd is None and the path is resolved by the OS.
    """
    if not _DIRFD:
        real = os.path.realpath(path)
        if not os.path.isdir(real):
            if not create:
                raise _Missing(real)
            try:
                os.makedirs(real, 0o700, exist_ok=True)
            except OSError as exc:
                raise _OSFailure(f"cannot create directory {real} for {shown}: {_err_text(exc)}") from exc
        return None, real
    strict = _is_root()
    parts = [p for p in path.split("/") if p and p != "."]
    parts.reverse()  # a stack: parts[-1] is the next component
    fd = os.open("/", _dir_flags())
    real = "/"
    links = 0
    try:
        while parts:
            name = parts.pop()
            if name == "..":
                up = os.open("..", _dir_flags(), dir_fd=fd)
                os.close(fd)
                fd, real = up, os.path.dirname(real)
                continue
            here = os.path.join(real, name)
            try:
                nfd = os.open(name, _dir_flags() | _O_NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise _Missing(here) from None
                nfd = _mkdir_at(fd, real, name, shown)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise _OSFailure(f"cannot {verb} {shown}: {here}: {_err_text(exc)}") from exc
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if not stat.S_ISLNK(st.st_mode):
                    raise FileSafetyError(f"cannot {verb} {shown}: {here} is not a directory; fix the path") from None
                if strict and st.st_uid != 0:
                    raise FileSafetyError(
                        f"refusing to {verb} {shown} as root: the path goes through symlink {here}, owned by "
                        f"{_who(st.st_uid)}; {_root_hint()}"
                    ) from None
                links += 1
                if links > _MAX_SYMLINKS:
                    raise FileSafetyError(
                        f"refusing to {verb} {shown}: too many levels of symlinks; fix the link"
                    ) from None
                target = os.readlink(name, dir_fd=fd)
                parts.extend(reversed([p for p in target.split("/") if p and p != "."]))
                if target.startswith("/"):
                    os.close(fd)
                    fd, real = os.open("/", _dir_flags()), "/"
                continue
            os.close(fd)
            fd, real = nfd, here
    except BaseException:
        _close(fd)
        raise
    return fd, real


def _mkdir_at(fd: int, real: str, name: str, shown: str) -> int:
    """Create directory ``name`` (0700, umask-proof) in the directory ``fd``; return an fd on it."""
    here = os.path.join(real, name)
    if _is_root():
        st = os.fstat(fd)
        if st.st_uid != 0:
            raise FileSafetyError(
                f"refusing to create directories for {shown} as root: {real or '/'} is owned by "
                f"{_who(st.st_uid)}; {_root_hint()}"
            )
    try:
        os.mkdir(name, 0o700, dir_fd=fd)
    except FileExistsError:
        pass
    except OSError as exc:
        raise _OSFailure(f"cannot create directory {here} for {shown}: {_err_text(exc)}") from exc
    try:
        nfd = os.open(name, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=fd)
    except OSError as exc:
        raise _OSFailure(f"cannot create directory {here} for {shown}: {_err_text(exc)}") from exc
    try:
        st = os.fstat(nfd)
        if st.st_uid == _euid() and stat.S_IMODE(st.st_mode) != 0o700:
            os.fchmod(nfd, 0o700)
    except OSError:
        pass
    return nfd


class _Target:
    """A target opened for work: its directory's fd and real path, and its name in it."""

    __slots__ = ("dfd", "dir", "name", "shown", "via_link")

    def __init__(self, shown: str, dir: str, name: str, dfd: int | None, via_link: bool) -> None:
        self.shown = shown  # the path as the caller gave it (for messages)
        self.dir = dir  # real path of the directory holding the file
        self.name = name  # the file's name in it (symlinks resolved)
        self.dfd = dfd  # fd of that directory (None on Windows: then paths are used)
        self.via_link = via_link  # the caller's path was (or passed through) a symlink at its last component

    @property
    def real(self) -> str:
        return os.path.join(self.dir, self.name)

    def at(self, name: str | None = None) -> str:
        """A name to pass with dir_fd=self.dfd (a full path when there is no fd)."""
        n = self.name if name is None else name
        return n if self.dfd is not None else os.path.join(self.dir, n)

    def close(self) -> None:
        _close(self.dfd)
        self.dfd = None

    def key(self) -> tuple[int, int, str] | None:
        if self.dfd is None:
            return None
        st = os.fstat(self.dfd)
        return (st.st_dev, st.st_ino, self.name)


def _open_target(path: Path | str, verb: str, create: bool) -> _Target | None:
    """Walk to the target's directory; follow a symlinked last component (each link owned by the
    invoking user). Returns None when a directory is missing and ``create`` is false."""
    shown = os.fspath(path)
    euid = _euid()
    cur = os.path.abspath(shown)
    via_link = False
    for _ in range(_MAX_SYMLINKS):
        d, name = os.path.split(cur)
        if not name or name in (".", ".."):
            raise FileSafetyError(f"refusing to {verb} {shown}: not a file name")
        try:
            dfd, real = _open_dir(d, shown, verb, create)
        except _Missing:
            return None
        except FileSafetyError:
            raise
        except OSError as exc:
            raise FileSafetyError(f"cannot {verb} {shown}: {_err_text(exc)}") from exc
        t = _Target(shown, real, name, dfd, via_link)
        try:
            st = os.stat(t.at(), dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            return t
        except OSError as exc:
            t.close()
            raise FileSafetyError(f"cannot {verb} {shown}: {_err_text(exc)}") from exc
        if not stat.S_ISLNK(st.st_mode):
            return t
        via_link = True
        try:
            if euid is not None and st.st_uid != euid:
                raise FileSafetyError(
                    f"refusing to {verb} {shown}: symlink {t.real} is owned by {_who(st.st_uid)}, not by you "
                    f"(uid {euid}); replace it with a regular file of your own"
                )
            try:
                target = os.readlink(t.at(), dir_fd=dfd)
            except OSError as exc:
                raise FileSafetyError(f"cannot {verb} {shown}: symlink {t.real}: {_err_text(exc)}") from exc
        finally:
            t.close()
        cur = os.path.join(real, target)
    raise FileSafetyError(f"refusing to {verb} {shown}: too many levels of symlinks; fix the link")


def _check_owner(t: _Target, what: str, st: os.stat_result, verb: str) -> None:
    """Apply the ownership rules to the final file (what="file") or its directory."""
    euid = _euid()
    if euid is None or st.st_uid == euid:
        return
    if t.via_link:
        whose = "which" if what == "file" else f"whose {what}"
        raise FileSafetyError(
            f"refusing to {verb} {t.shown}: it is a symlink to {t.real}, {whose} is owned by "
            f"{_who(st.st_uid)}, not by you (uid {euid}); remove the symlink or point it at a file you own"
        )
    if euid == 0:
        subject = "it" if what == "file" else f"its {what}"
        raise FileSafetyError(
            f"refusing to {verb} {t.shown} as root: {subject} is owned by {_who(st.st_uid)}; {_root_hint()}"
        )


def _check_dir(t: _Target, verb: str) -> None:
    try:
        st = os.fstat(t.dfd) if t.dfd is not None else os.stat(t.dir)
    except OSError as exc:
        raise FileSafetyError(f"cannot {verb} {t.shown}: directory {t.dir}: {_err_text(exc)}") from exc
    if not stat.S_ISDIR(st.st_mode):
        raise FileSafetyError(f"cannot {verb} {t.shown}: {t.dir} is not a directory; fix the path")
    _check_owner(t, "directory", st, verb)


def _check_existing(t: _Target, st: os.stat_result, verb: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise FileSafetyError(
            f"refusing to {verb} {t.shown}: {t.real} is {_kind(st.st_mode)}, not a regular file; "
            "move it away or point pgiam at another path"
        )
    _check_owner(t, "file", st, verb)


def _lstat_or_none(t: _Target, verb: str, name: str | None = None) -> os.stat_result | None:
    try:
        return os.stat(t.at(name), dir_fd=t.dfd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FileSafetyError(f"cannot {verb} {t.shown}: {_err_text(exc)}") from exc


def _read_checked(t: _Target, verb: str) -> tuple[bytes | None, os.stat_result | None]:
    """Read the target after type/owner checks; the fd is re-checked with fstat (no TOCTOU)."""
    data, st, fd = _read_open(t, verb)
    _close(fd)
    return data, st


def _read_open(t: _Target, verb: str) -> tuple[bytes | None, os.stat_result | None, int | None]:
    """Like _read_checked, and the fd it read from stays open (the caller closes it)."""
    st = _lstat_or_none(t, verb)
    if st is None:
        return None, None, None
    if stat.S_ISLNK(st.st_mode):  # swapped in after the walk
        raise FileSafetyError(f"refusing to {verb} {t.shown}: {t.real} changed into a symlink; try again")
    _check_existing(t, st, verb)
    flags = os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_BINARY | _O_CLOEXEC
    try:
        fd = os.open(t.at(), flags, dir_fd=t.dfd)
    except FileNotFoundError:
        return None, None, None
    except OSError as exc:
        raise FileSafetyError(f"cannot read {t.shown}: {_err_text(exc)}") from exc
    try:
        fst = os.fstat(fd)
        _check_existing(t, fst, verb)
        chunks: list[bytes] = []
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            chunks.append(b)
    except OSError as exc:
        os.close(fd)
        raise FileSafetyError(f"cannot read {t.shown}: {_err_text(exc)}") from exc
    except BaseException:
        os.close(fd)
        raise
    return b"".join(chunks), fst, fd


def read_file(path: Path) -> bytes | None:
    """Read ``path`` (None when missing) with the same symlink/owner/regular-file checks, no lock."""
    t = _open_target(path, "read", create=False)
    if t is None:
        return None
    try:
        _check_dir(t, "read")
        data, _ = _read_checked(t, "read")
        return data
    finally:
        t.close()


def remove(path: Path) -> bool:
    """Delete ``path`` itself (a symlink is removed, never followed), reaching its directory by the same
    safe walk as every write. False when it did not exist."""
    shown = os.fspath(path)
    d, name = os.path.split(os.path.abspath(shown))
    try:
        dfd, real = _open_dir(d, shown, "remove", create=False)
    except _Missing:
        return False
    except OSError as exc:
        raise FileSafetyError(f"cannot remove {shown}: {_err_text(exc)}") from exc
    t = _Target(shown, real, name, dfd, False)
    try:
        _check_dir(t, "remove")
        try:
            os.unlink(t.at(), dir_fd=t.dfd)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise FileSafetyError(f"cannot remove {shown}: {_err_text(exc)}") from exc
        return True
    finally:
        t.close()


# --- pgiam's own directory: locks and markers of temp files in flight -----------------------------------


def private_dir() -> str:
    """pgiam's state directory (where the state file lives): locks/ and pending/ are kept in it."""
    from pgiam.config import paths

    return os.path.abspath(os.fspath(paths.state_path(paths.current_platform()).parent))


def _lock_name(real: str) -> str:
    import hashlib

    return hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def _open_private(sub: str, shown: str, create: bool) -> tuple[int | None, str]:
    """Open pgiam's locks/ or pending/ directory, which must be the invoking user's own."""
    d = os.path.join(private_dir(), sub)
    try:
        fd, real = _open_dir(d, shown, "lock", create)
        st = os.fstat(fd) if fd is not None else None
    except FileSafetyError:
        raise
    except OSError as exc:
        raise _OSFailure(f"cannot lock {shown}: {d}: {_err_text(exc)} (nothing was changed)") from exc
    euid = _euid()
    if st is not None and euid is not None and st.st_uid != euid:
        _close(fd)
        raise FileSafetyError(
            f"refusing to lock {shown}: pgiam's directory {real} is owned by {_who(st.st_uid)}, not by you "
            f"(uid {euid}); {_root_hint() if euid == 0 else 'remove it'}"
        )
    return fd, real


def _open_lock_file(dfd: int | None, dpath: str, name: str, shown: str, create: bool) -> int | None:
    """Open (and with ``create`` make, 0600) a lock file; None when it is missing or not safely ours."""
    p = name if dfd is not None else os.path.join(dpath, name)
    flags = os.O_RDWR | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC | _O_BINARY | (os.O_CREAT if create else 0)
    try:
        fd = os.open(p, flags, 0o600, dir_fd=dfd)
    except OSError as exc:
        if not create:
            return None
        raise _OSFailure(
            f"cannot write {shown}: lock file {os.path.join(dpath, name)}: {_err_text(exc)} (nothing was changed)"
        ) from exc
    try:
        st = os.fstat(fd)
        euid = _euid()
        if not stat.S_ISREG(st.st_mode) or (euid is not None and st.st_uid != euid) or st.st_nlink > 1:
            if not create:
                os.close(fd)
                return None
            raise FileSafetyError(
                f"refusing to write {shown}: lock file {os.path.join(dpath, name)} is not a regular file of "
                "yours; remove it"
            )
        if create and hasattr(os, "fchmod") and stat.S_IMODE(st.st_mode) != 0o600:
            os.fchmod(fd, 0o600)
    except BaseException:
        _close(fd)
        raise
    return fd


class _LockTimeout(Exception):
    pass


_LOCK_POLL = 0.05  # seconds between attempts, as filelock polls


def _flock(fd: int, timeout: float, what: str) -> Callable[[], None]:
    """flock(2) ``fd`` exclusively within ``timeout`` (0: one try); returns its release (which closes fd).

    flock is exactly what filelock's Unix lock takes (so pgiam versions that lock through filelock
    and this one exclude each other) without importing filelock (20-40 ms on every run that writes).
    """
    import fcntl

    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise _LockTimeout(what) from None
                time.sleep(min(_LOCK_POLL, left))
    except BaseException:
        os.close(fd)
        raise

    def release() -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    return release


def _filelock(lock_path: str, timeout: float) -> Callable[[], None]:  # pragma: no cover - Windows
    import filelock

    lock = filelock.FileLock(lock_path, timeout=timeout, mode=0o600)
    try:
        lock.acquire()
    except filelock.Timeout as exc:
        raise _LockTimeout(lock_path) from exc
    return lambda: lock.release()


def _lock_target(t: _Target, timeout: float) -> Callable[[], None]:
    """Take the target's lock in pgiam's own directory (and the legacy one beside it, if present)."""
    name = _lock_name(t.real) + ".lock"
    try:
        ldfd, lpath = _open_private("locks", t.shown, create=True)
        lock_path = os.path.join(lpath, name)
        try:
            if os.name == "nt":  # pragma: no cover - Windows
                return _filelock(lock_path, timeout)
            fd = _open_lock_file(ldfd, lpath, name, t.shown, create=True)
            assert fd is not None
        finally:
            _close(ldfd)
    except _OSFailure:
        # pgiam's own directory cannot be written (a read-only home, no home): lock beside the target
        # as older versions did; every pgiam takes that lock too while it exists, so all still exclude
        legacy_name = _LEGACY_LOCK.format(t.name)
        legacy = _open_lock_file(t.dfd, t.dir, legacy_name, t.shown, create=True)
        assert legacy is not None
        return _flock(legacy, timeout, os.path.join(t.dir, legacy_name)) if os.name != "nt" else (
            _filelock(os.path.join(t.dir, legacy_name), timeout))  # pragma: no cover
    start = time.monotonic()
    try:
        release = _flock(fd, timeout, lock_path)
    except _LockTimeout:
        raise _LockTimeout(lock_path) from None
    # an older pgiam locks .NAME.pgiam.lock beside the target: take it too while it exists
    legacy = _open_lock_file(t.dfd, t.dir, _LEGACY_LOCK.format(t.name), t.shown, create=False)
    if legacy is None:
        return release
    try:
        release_legacy = _flock(legacy, max(0.0, timeout - (time.monotonic() - start)),
                                os.path.join(t.dir, _LEGACY_LOCK.format(t.name)))
    except BaseException:
        release()
        raise

    def both() -> None:
        try:
            release_legacy()
        finally:
            release()

    return both


def hold(name: str, timeout: float = 60.0, beside: Path | None = None) -> Callable[[], None]:
    """Wait (up to ``timeout``) for the lock ``name`` in pgiam's own locks/ directory; returns its release.

    pgiam's reconcile holds one such lock across its writes, so that concurrent verbs never interleave
    their read-plan-write cycles. When pgiam's own directory cannot be written (a read-only home), the
    lock is ``.pgiam-NAME`` beside ``beside`` instead, as the file locks do. Lock files are never deleted."""
    try:
        ldfd, lpath = _open_private("locks", name, create=True)
        lname = name
    except _OSFailure:
        if beside is None:
            raise
        t = _open_target(beside, "lock", create=True)
        assert t is not None
        ldfd, lpath, lname = t.dfd, t.dir, f".pgiam-{name}"
        t.dfd = None  # (now ours to close)
        t.close()
    try:
        fd = _open_lock_file(ldfd, lpath, lname, os.path.join(lpath, lname), create=True)
    finally:
        _close(ldfd)
    assert fd is not None
    path = os.path.join(lpath, lname)
    try:
        if os.name == "nt":  # pragma: no cover - Windows
            os.close(fd)
            return _filelock(path, timeout)
        return _flock(fd, timeout, path)
    except _LockTimeout as exc:
        raise FileSafetyError(
            f"another pgiam has held {path} for more than {timeout:g}s (nothing was changed); try again later"
        ) from exc


def try_lock(name: str) -> tuple[Callable[[], None] | None, str]:
    """A non-blocking lock ``name`` in pgiam's own locks/ directory: (release, path), release None when
    another process holds it. The lock file is never deleted."""
    ldfd, lpath = _open_private("locks", name, create=True)
    try:
        fd = _open_lock_file(ldfd, lpath, name, os.path.join(lpath, name), create=True)
    finally:
        _close(ldfd)
    assert fd is not None
    path = os.path.join(lpath, name)
    if os.name == "nt":  # pragma: no cover - Windows: a plain lock with no wait
        os.close(fd)
        try:
            return _filelock(path, 0), path
        except _LockTimeout:
            return None, path
    try:
        return _flock(fd, 0, path), path
    except _LockTimeout:
        return None, path


# --- temp files in flight: a marker in pending/ lets any later run remove a killed run's temp ---------


def _mark_pending(t: _Target, tmp_name: str) -> str | None:
    """Record a temp file about to be created (best effort); returns the marker's name."""
    try:
        pdfd, ppath = _open_private("pending", t.shown, create=True)
    except Exception:  # best effort: without a marker only a write of this file removes a stale temp
        return None
    marker = f"{_lock_name(t.real)}{tmp_name[tmp_name.index(_TMP_INFIX) + len(_TMP_INFIX):]}"
    try:
        p = marker if pdfd is not None else os.path.join(ppath, marker)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, 0o600, dir_fd=pdfd)
        try:
            os.write(fd, os.fsencode(os.path.join(t.dir, tmp_name)))
        finally:
            os.close(fd)
    except OSError:
        return None
    finally:
        _close(pdfd)
    return marker


def _unmark(marker: str | None) -> None:
    if marker is None:
        return
    with contextlib.suppress(Exception):  # best effort: a marker left behind only costs a later sweep
        os.unlink(os.path.join(private_dir(), "pending", marker))


def sweep() -> int:
    """Remove temp files that killed runs left behind (called by every pgiam run, no-op included).

    Costs one directory listing of pgiam's pending/ directory, which is empty or missing unless a
    run was killed while writing. Returns how many temp files were removed.
    """
    try:
        base = os.path.join(private_dir(), "pending")
        names = os.listdir(base)  # (names only: nothing is acted on before the safe walk below)
    except Exception:  # no state directory (odd HOME): nothing to sweep; the run reports real problems
        return 0
    if not names:
        return 0
    removed = 0
    try:
        pdfd, ppath = _open_dir(base, base, "clean", create=False)
    except (_Missing, FileSafetyError, OSError):
        return 0
    try:
        if pdfd is not None and os.fstat(pdfd).st_uid != _euid():
            _close(pdfd)
            return 0  # not our directory (root with another user's HOME): leave it alone
    except OSError:
        _close(pdfd)
        return 0
    try:
        for marker in names:
            with contextlib.suppress(OSError, FileSafetyError, _Missing, UnicodeError, ValueError):
                removed += _sweep_one(pdfd, ppath, marker)
    finally:
        _close(pdfd)
    return removed


def _sweep_one(pdfd: int | None, ppath: str, marker: str) -> int:
    mp = marker if pdfd is not None else os.path.join(ppath, marker)
    fd = os.open(mp, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC, dir_fd=pdfd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != _euid():
            return 0
        tmp_path = os.fsdecode(os.read(fd, 8192))
    finally:
        os.close(fd)
    d, tmp_name = os.path.split(tmp_path)
    if _TMP_INFIX not in tmp_name or not tmp_name.startswith("."):
        return 0
    target = os.path.join(d, tmp_name[1:tmp_name.index(_TMP_INFIX)])
    if _lock_name(target) != marker[:32]:
        return 0
    # the writer may still be alive: only with the target's lock (not waiting) is the temp file stale
    ldfd, lpath = _open_private("locks", target, create=True)
    try:
        lfd = _open_lock_file(ldfd, lpath, marker[:32] + ".lock", target, create=True)
    finally:
        _close(ldfd)
    assert lfd is not None
    try:
        release = _flock(lfd, 0, target) if os.name != "nt" else None
    except _LockTimeout:
        return 0
    try:
        t = _open_target(target, "clean", create=False)
        n = 0
        if t is not None:
            try:
                st2 = _lstat_or_none(t, "clean", tmp_name)
                if st2 is not None and stat.S_ISREG(st2.st_mode) and st2.st_uid == _euid():
                    os.unlink(t.at(tmp_name), dir_fd=t.dfd)
                    n = 1
            finally:
                t.close()
        os.unlink(mp, dir_fd=pdfd)
        return n
    finally:
        if release is not None:
            release()


def _remove_stale_temps(t: _Target) -> None:
    """Remove temp files of killed earlier runs beside the target; only ours and regular (we hold the lock)."""
    prefix = f".{t.name}{_TMP_INFIX}"
    euid = _euid()
    try:
        if t.dfd is not None:
            sfd = os.open(".", os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC, dir_fd=t.dfd)
            try:
                names = [n for n in os.listdir(sfd) if n.startswith(prefix)]
            finally:
                os.close(sfd)
        else:
            names = [n for n in os.listdir(t.dir) if n.startswith(prefix)]
    except OSError:
        return
    for n in names:
        try:
            st = os.stat(t.at(n), dir_fd=t.dfd, follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and (euid is None or st.st_uid == euid):
                os.unlink(t.at(n), dir_fd=t.dfd)
        except OSError:
            pass  # (another run's leftover we cannot remove is harmless: it is never read)


# --- writing ------------------------------------------------------------------------------------------


def _write_delay(name: str) -> float:
    raw = os.environ.get(_WRITE_DELAY_ENV)
    if not raw:
        return 0.0
    only = os.environ.get(_WRITE_DELAY_ENV + "_ONLY")  # the one file name to slow down
    if only and only != name:
        return 0.0
    try:
        return max(0.0, float(raw))
    except ValueError:
        return 0.0


def _fsync_dir(t: _Target) -> None:
    if os.name == "nt":
        return
    try:
        if t.dfd is not None:
            fd = os.open(".", os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC, dir_fd=t.dfd)
        else:
            fd = os.open(t.dir, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on directories; the rename is done
        pass
    finally:
        os.close(fd)


def _final_mode(old: os.stat_result | None, private: bool) -> int:
    if private:
        return 0o600
    if old is not None:
        return stat.S_IMODE(old.st_mode)
    return 0o644 & ~_umask()


def _signature(st: os.stat_result | None) -> tuple[int, int, int, int] | None:
    return None if st is None else (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class _Changed(Exception):
    """Another program changed the target between our read and our rename."""


def _unchanged_since(t: _Target, old: os.stat_result | None) -> bool:
    try:
        now = os.stat(t.at(), dir_fd=t.dfd, follow_symlinks=False)
    except FileNotFoundError:
        now = None
    except OSError:
        return True  # the rename reports any real problem
    return _signature(now) == _signature(old)


class _Carry:
    """Lines another program appends to the target while pgiam rewrites it are kept.

    Just before the rename, ``check`` compares the target with what was read (inode, size, mtime):
    unchanged, or only grown with the bytes read still at its start (another program appended), the
    rename goes ahead; anything else raises _Changed and the caller reads again and redoes its edit.
    Right after the rename, and once more after the directory fsync, ``salvage`` copies whatever was
    appended to the old file (read through the descriptor pgiam read it with) to the end of the new
    one: as if those appends had come just after pgiam's write. What can still be lost: a write by a
    program that opened the old file before the rename and writes after the second salvage.
    """

    __slots__ = ("copied", "rfd", "was", "was_st")

    def __init__(self, rfd: int | None, was: bytes | None, was_st: os.stat_result | None) -> None:
        self.rfd, self.was, self.was_st, self.copied = rfd, was, was_st, 0

    def check(self, t: _Target) -> None:
        try:
            now: os.stat_result | None = os.stat(t.at(), dir_fd=t.dfd, follow_symlinks=False)
        except FileNotFoundError:
            now = None
        except OSError:
            raise _Changed() from None
        if _signature(now) == _signature(self.was_st):
            return
        if now is None or self.was_st is None or self.was is None or self.rfd is None:
            raise _Changed()  # created or deleted meanwhile
        same_file = (now.st_dev, now.st_ino) == (self.was_st.st_dev, self.was_st.st_ino)
        if not same_file or now.st_size < len(self.was) or not stat.S_ISREG(now.st_mode):
            raise _Changed()
        if _pread_all(self.rfd, 0, len(self.was)) != self.was:
            raise _Changed()  # rewritten in place: read again and redo the edit

    def salvage(self, fd: int) -> int:
        """Append to ``fd`` (the new file) what the old file gained since it was read."""
        if self.rfd is None or self.was is None:
            return 0
        extra = _pread_all(self.rfd, len(self.was) + self.copied, None)
        if not extra:
            return 0
        if self.copied == 0:
            import fcntl

            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND)
        view = memoryview(extra)
        while view:
            view = view[os.write(fd, view):]
        self.copied += len(extra)
        return len(extra)


def _pread_all(fd: int, offset: int, size: int | None) -> bytes:
    chunks: list[bytes] = []
    while size is None or size > 0:
        b = os.pread(fd, 1 << 20 if size is None else min(size, 1 << 20), offset)
        if not b:
            break
        chunks.append(b)
        offset += len(b)
        if size is not None:
            size -= len(b)
    return b"".join(chunks)


def _write_replace(t: _Target, data: bytes, old: os.stat_result | None, private: bool,
                   carry: _Carry | None) -> None:
    tmp_name = f".{t.name}{_TMP_INFIX}{os.urandom(8).hex()}"  # = secrets.token_hex(8)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY
    delay = _write_delay(t.name)
    fd: int | None = None
    renamed = False
    marker = _mark_pending(t, tmp_name)
    try:
        fd = os.open(t.at(tmp_name), flags, 0o600, dir_fd=t.dfd)
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # O_CREAT honours umask only to narrow; make it exact
        view = memoryview(data)
        for off in range(0, len(view), _CHUNK):
            chunk = view[off : off + _CHUNK]
            while chunk:
                n = os.write(fd, chunk)
                chunk = chunk[n:]
            if delay:
                time.sleep(delay)
        os.fsync(fd)
        if old is not None and hasattr(os, "fchown"):
            # Keep the group (and, as root, the owner). chown may clear set-id bits: chmod after it.
            if _is_root():
                os.fchown(fd, old.st_uid, old.st_gid)
            elif os.fstat(fd).st_gid != old.st_gid:
                with contextlib.suppress(PermissionError):
                    os.fchown(fd, -1, old.st_gid)
        mode = _final_mode(old, private)
        # The temp file is never wider than 0600: a wider final mode (a 0644 service file) is
        # applied to the inode only once it has been renamed into place.
        wider = bool(mode & 0o077)
        if not wider and hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        if delay:
            time.sleep(delay)
        if carry is not None:
            carry.check(t)
        os.replace(t.at(tmp_name), t.at(), src_dir_fd=t.dfd, dst_dir_fd=t.dfd)
        renamed = True
        if wider:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            else:  # pragma: no cover - Windows before 3.13
                os.chmod(t.real, mode)
    except OSError as exc:
        _close(fd)
        if not renamed:
            with contextlib.suppress(OSError):
                os.unlink(t.at(tmp_name), dir_fd=t.dfd)
        _unmark(marker)
        if renamed:
            raise FileSafetyError(f"cannot set the mode of {t.shown}: {_err_text(exc)}") from exc
        raise FileSafetyError(f"cannot write {t.shown}: {_err_text(exc)} (nothing was changed)") from exc
    except BaseException:
        _close(fd)
        if not renamed:
            with contextlib.suppress(OSError):
                os.unlink(t.at(tmp_name), dir_fd=t.dfd)
        _unmark(marker)
        raise
    _unmark(marker)
    try:
        moved = carry.salvage(fd) if carry is not None else 0
        _fsync_dir(t)
        if carry is not None:
            moved += carry.salvage(fd)
        if moved:
            os.fsync(fd)
    except OSError:
        pass  # (the new file is in place; only other programs' late appends could be missing)
    finally:
        os.close(fd)


def _delete(t: _Target, old: os.stat_result | None, recheck: bool) -> None:
    if recheck and not _unchanged_since(t, old):
        raise _Changed()
    try:
        os.unlink(t.at(), dir_fd=t.dfd)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise FileSafetyError(f"cannot delete {t.shown}: {_err_text(exc)} (nothing was changed)") from exc
    _fsync_dir(t)


class Written:
    """What update_file did: whether the content changed (its truth value), and for a private file
    whose group/other bits were removed, the mode it had (the caller reports it; this module prints
    nothing)."""

    __slots__ = ("changed", "fixed_mode")

    def __init__(self, changed: bool, fixed_mode: int | None = None) -> None:
        self.changed = changed
        self.fixed_mode = fixed_mode

    def __bool__(self) -> bool:
        return self.changed

    def __repr__(self) -> str:
        return f"Written(changed={self.changed}, fixed_mode={self.fixed_mode})"


def _fixed(old_st: os.stat_result) -> int:
    return stat.S_IMODE(old_st.st_mode)


def update_file(
    path: Path,
    transform: Callable[[bytes | None], bytes | None],
    *,
    private: bool,
    lock_timeout: float = 30.0,
) -> Written:
    """Atomically replace ``path`` with ``transform(current)`` under an inter-process lock.

    ``current`` is None when the file is missing; a None result deletes the file. When the result
    equals the current content nothing is written (mtime unchanged) and the result is false; otherwise
    true (a Written, which also says which group/other bits a private file lost). ``private=True``
    (pgpass) forces mode 0600 and reports the old mode when group/other bits are removed;
    ``private=False`` (service file) keeps the existing mode, new files get 0644 & ~umask.
    ``transform`` may raise PgiamError: then nothing is written. It may be called more than once (when
    another program changes the file meanwhile); only the last result is written. Raises
    FileSafetyError for unsafe or unwritable targets and for lock timeouts.
    """
    t = _open_target(path, "write", create=True)
    assert t is not None
    try:
        _check_dir(t, "write")
        try:
            release = _lock_target(t, lock_timeout)
        except _LockTimeout as exc:
            raise FileSafetyError(
                f"cannot write {t.shown}: another process has held its lock {exc} for more than "
                f"{lock_timeout:g}s (nothing was changed); try again later"
            ) from exc
        except OSError as exc:
            raise FileSafetyError(f"cannot lock {t.shown}: {_err_text(exc)}") from exc
        try:
            return _update_locked(path, t, transform, private)
        finally:
            release()
    finally:
        t.close()


def _update_locked(
    path: Path, t: _Target, transform: Callable[[bytes | None], bytes | None], private: bool
) -> Written:
    # Re-check now that we hold the lock: the path may have been swapped while we waited.
    t2 = _open_target(path, "write", create=False)
    try:
        same = t2 is not None and (t2.dir, t2.name, t2.key()) == (t.dir, t.name, t.key())
    finally:
        if t2 is not None:
            t2.close()
    if not same:
        raise FileSafetyError(f"refusing to write {t.shown}: the path changed while waiting; try again")
    _check_dir(t, "write")
    _remove_stale_temps(t)
    for attempt in range(_RETRIES + 1):
        recheck = attempt < _RETRIES  # the last attempt writes whatever happens meanwhile
        current, old_st, rfd = _read_open(t, "write")
        try:
            new = transform(current)
            too_open = _MODE_BITS and private and old_st is not None and stat.S_IMODE(old_st.st_mode) & 0o077
            if new == current:
                if too_open and old_st is not None:
                    # Same content, but libpq ignores the file as it is: fix the mode (mtime unchanged).
                    try:
                        os.chmod(t.at(), 0o600, dir_fd=t.dfd)
                    except OSError as exc:
                        raise FileSafetyError(f"cannot chmod {t.shown} to 0600: {_err_text(exc)}") from exc
                    return Written(False, _fixed(old_st))
                return Written(False)
            try:
                if new is None:
                    _delete(t, old_st, recheck)
                    return Written(True)
                carry = _Carry(rfd, current, old_st) if recheck and _CARRY else None
                _write_replace(t, new, old_st, private, carry)
            except _Changed:
                continue
        finally:
            _close(rfd)
        return Written(True, _fixed(old_st) if too_open and old_st is not None else None)
    raise AssertionError("unreachable")  # pragma: no cover
