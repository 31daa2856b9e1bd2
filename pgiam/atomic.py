"""The one I/O primitive for ~/.pgpass and ~/.pg_service.conf: lock, read, transform, write, rename.

``update_file`` takes an inter-process lock next to the target, reads the current bytes, asks a pure
``transform`` for the new bytes and, only when they differ, writes a 0600 temp file in the same
directory, fsyncs it, gives it its final mode and renames it over the target. A reader (libpq) sees
either the old or the new file, never a mix; a killed writer leaves at most a stale temp file that the
next run removes.

Safety rules (a user must not be able to make pgiam write somewhere they could not write themselves,
e.g. ``~/.pgpass -> /etc/shadow`` while pgiam runs as root):

* A symlinked target is followed only when every link in the chain, the final file (if it exists) and
  the final file's directory are owned by the invoking user; otherwise FileSafetyError.
* Running as root, pgiam never writes into a file or directory owned by another user (``--user NAME``
  drops privileges first).
* The target must be a regular file when it exists; directories, FIFOs, sockets and devices are
  refused without being opened (a FIFO is never opened, so it cannot block us).
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from typing import TYPE_CHECKING

from pgiam import output
from pgiam.errors import FileSafetyError

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Callable

__all__ = ["read_file", "update_file"]

_O_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)
_O_BINARY: int = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
_O_CLOEXEC: int = getattr(os, "O_CLOEXEC", 0)
_O_DIRECTORY: int = getattr(os, "O_DIRECTORY", 0)
# Windows has no Unix mode bits (st_mode says 0666/0444): never claim a pgpass was "fixed to 0600" there.
_MODE_BITS = os.name != "nt"

_CHUNK = 4096
_MAX_SYMLINKS = 40
_TMP_INFIX = ".pgiam-tmp-"

# TEST-ONLY hook: when set (seconds, float), the writer sleeps that long after every 4 KiB chunk of
# the temp file and once more before the rename, so tests can inspect the temp file or SIGKILL the
# writer mid-write. Never set it in production; it only slows pgiam down.
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


class _Target:
    """A resolved target (a plain class: a dataclass costs ~0.5 ms to create at import)."""

    __slots__ = ("real", "shown", "via_link")

    def __init__(self, shown: str, real: str, via_link: bool) -> None:
        self.shown = shown  # the path as the caller gave it (for messages)
        self.real = real  # absolute path of the file actually read/written (symlinks resolved)
        self.via_link = via_link  # the caller's path was (or passed through) a symlink at its last component

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Target):
            return NotImplemented
        return (self.shown, self.real, self.via_link) == (other.shown, other.real, other.via_link)

    def __hash__(self) -> int:
        return hash((self.shown, self.real, self.via_link))

    def __repr__(self) -> str:
        return f"_Target(shown={self.shown!r}, real={self.real!r}, via_link={self.via_link!r})"


def _resolve(path: Path, verb: str) -> _Target:
    """Follow a symlinked last component, checking every link's owner; resolve the directory."""
    shown = os.fspath(path)
    euid = _euid()
    cur = os.path.abspath(shown)
    via_link = False
    for _ in range(_MAX_SYMLINKS):
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            break
        except OSError as exc:
            raise FileSafetyError(f"cannot {verb} {shown}: {_err_text(exc)}") from exc
        if not stat.S_ISLNK(st.st_mode):
            break
        via_link = True
        if euid is not None and st.st_uid != euid:
            raise FileSafetyError(
                f"refusing to {verb} {shown}: symlink {cur} is owned by {_who(st.st_uid)}, not by you "
                f"(uid {euid}); replace it with a regular file of your own"
            )
        try:
            target = os.readlink(cur)
        except OSError as exc:
            raise FileSafetyError(f"cannot {verb} {shown}: symlink {cur}: {_err_text(exc)}") from exc
        cur = os.path.join(os.path.dirname(cur), target)
    else:
        raise FileSafetyError(f"refusing to {verb} {shown}: too many levels of symlinks; fix the link")
    parent, name = os.path.split(cur)
    if not name or name in (".", ".."):
        raise FileSafetyError(f"refusing to {verb} {shown}: not a file name")
    real = os.path.join(os.path.realpath(parent), name)
    return _Target(shown=shown, real=real, via_link=via_link)


def _who(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


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
    d = os.path.dirname(t.real)
    try:
        st = os.stat(d)
    except OSError as exc:
        raise FileSafetyError(f"cannot {verb} {t.shown}: directory {d}: {_err_text(exc)}") from exc
    if not stat.S_ISDIR(st.st_mode):
        raise FileSafetyError(f"cannot {verb} {t.shown}: {d} is not a directory; fix the path")
    _check_owner(t, "directory", st, verb)


def _check_existing(t: _Target, st: os.stat_result, verb: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise FileSafetyError(
            f"refusing to {verb} {t.shown}: {t.real} is {_kind(st.st_mode)}, not a regular file; "
            "move it away or point pgiam at another path"
        )
    _check_owner(t, "file", st, verb)


def _lstat_or_none(p: str, t: _Target, verb: str) -> os.stat_result | None:
    try:
        return os.lstat(p)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FileSafetyError(f"cannot {verb} {t.shown}: {_err_text(exc)}") from exc


def _read_checked(t: _Target, verb: str) -> tuple[bytes | None, os.stat_result | None]:
    """Read the target after type/owner checks; the fd is re-checked with fstat (no TOCTOU)."""
    st = _lstat_or_none(t.real, t, verb)
    if st is None:
        return None, None
    if stat.S_ISLNK(st.st_mode):  # swapped in after _resolve
        raise FileSafetyError(f"refusing to {verb} {t.shown}: {t.real} changed into a symlink; try again")
    _check_existing(t, st, verb)
    flags = os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_BINARY | _O_CLOEXEC
    try:
        fd = os.open(t.real, flags)
    except FileNotFoundError:
        return None, None
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
        raise FileSafetyError(f"cannot read {t.shown}: {_err_text(exc)}") from exc
    finally:
        os.close(fd)
    return b"".join(chunks), fst


def read_file(path: Path) -> bytes | None:
    """Read ``path`` (None when missing) with the same symlink/owner/regular-file checks, no lock."""
    t = _resolve(path, "read")
    if _lstat_or_none(os.path.dirname(t.real), t, "read") is None:
        return None
    _check_dir(t, "read")
    data, _ = _read_checked(t, "read")
    return data


def _make_parents(t: _Target) -> None:
    """Create missing directories of the target with mode 0700 (umask-proof); leave existing ones."""
    d = os.path.dirname(t.real)
    missing: list[str] = []
    while not os.path.lexists(d):
        missing.append(d)
        up = os.path.dirname(d)
        if up == d:
            break
        d = up
    if not missing:
        return
    euid = _euid()
    if euid == 0:
        try:
            st = os.stat(d)
        except OSError as exc:
            raise FileSafetyError(f"cannot write {t.shown}: {d}: {_err_text(exc)}") from exc
        if st.st_uid != euid:
            raise FileSafetyError(
                f"refusing to create directories for {t.shown} as root: {d} is owned by "
                f"{_who(st.st_uid)}; {_root_hint()}"
            )
    for m in reversed(missing):
        try:
            os.mkdir(m, 0o700)
            os.chmod(m, 0o700)
        except FileExistsError:
            continue
        except OSError as exc:
            raise FileSafetyError(f"cannot create directory {m} for {t.shown}: {_err_text(exc)}") from exc


def _prepare_lock(t: _Target) -> str:
    d, name = os.path.split(t.real)
    lock_path = os.path.join(d, f".{name}.pgiam.lock")
    flags = os.O_RDWR | os.O_CREAT | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC | _O_BINARY
    try:
        fd = os.open(lock_path, flags, 0o600)
    except OSError as exc:
        raise FileSafetyError(
            f"cannot write {t.shown}: lock file {lock_path}: {_err_text(exc)} (nothing was changed)"
        ) from exc
    try:
        st = os.fstat(fd)
        euid = _euid()
        if not stat.S_ISREG(st.st_mode) or (euid is not None and st.st_uid != euid):
            raise FileSafetyError(
                f"refusing to write {t.shown}: lock file {lock_path} is not a regular file of yours; "
                "remove it"
            )
        if hasattr(os, "fchmod") and stat.S_IMODE(st.st_mode) != 0o600:
            os.fchmod(fd, 0o600)
    except OSError as exc:
        raise FileSafetyError(f"cannot write {t.shown}: lock file {lock_path}: {_err_text(exc)}") from exc
    finally:
        os.close(fd)
    return lock_path


def _remove_stale_temps(t: _Target) -> None:
    """Remove temp files of killed earlier runs; only ours and regular (we hold the lock)."""
    d, name = os.path.split(t.real)
    prefix = f".{name}{_TMP_INFIX}"
    euid = _euid()
    try:
        entries = list(os.scandir(d))
    except OSError:
        return
    for e in entries:
        if not e.name.startswith(prefix):
            continue
        try:
            st = e.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and (euid is None or st.st_uid == euid):
                os.unlink(e.path)
        except OSError:
            pass  # (another run's leftover we cannot remove is harmless: it is never read)


def _write_delay() -> float:
    raw = os.environ.get(_WRITE_DELAY_ENV)
    if not raw:
        return 0.0
    try:
        return max(0.0, float(raw))
    except ValueError:
        return 0.0


def _fsync_dir(d: str) -> None:
    if os.name == "nt":
        return
    try:
        fd = os.open(d, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
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


def _write_replace(t: _Target, data: bytes, old: os.stat_result | None, private: bool) -> None:
    d, name = os.path.split(t.real)
    tmp = os.path.join(d, f".{name}{_TMP_INFIX}{os.urandom(8).hex()}")  # = secrets.token_hex(8)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY
    delay = _write_delay()
    fd: int | None = None
    try:
        fd = os.open(tmp, flags, 0o600)
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
        os.replace(tmp, t.real)
        if wider:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            else:  # pragma: no cover - Windows before 3.13
                os.chmod(t.real, mode)
        os.close(fd)
        fd = None
    except OSError as exc:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise FileSafetyError(f"cannot write {t.shown}: {_err_text(exc)} (nothing was changed)") from exc
    except BaseException:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(d)


def _delete(t: _Target) -> None:
    try:
        os.unlink(t.real)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise FileSafetyError(f"cannot delete {t.shown}: {_err_text(exc)} (nothing was changed)") from exc
    _fsync_dir(os.path.dirname(t.real))


class _LockTimeout(Exception):
    pass


_LOCK_POLL = 0.05  # seconds between attempts, as filelock polls


def _lock(lock_path: str, timeout: float) -> Callable[[], None]:
    """Hold an exclusive lock on ``lock_path`` (created by _prepare_lock); returns its release.

    POSIX: flock(2) on the file, which is exactly what filelock's Unix lock takes (so pgiam versions
    that lock through filelock and this one exclude each other) without importing filelock, whose
    import costs 20-40 ms on every run that writes. Elsewhere (Windows): filelock.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return _filelock(lock_path, timeout)
    fd = os.open(lock_path, os.O_RDWR | _O_NOFOLLOW | _O_CLOEXEC)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise _LockTimeout(lock_path) from None
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


def _warn_mode(shown: str, old_st: os.stat_result) -> None:
    output.warn(
        f"{shown} had mode {stat.S_IMODE(old_st.st_mode):04o}; fixed to 0600 "
        "(libpq ignores a password file readable by group or others)"
    )


def update_file(
    path: Path,
    transform: Callable[[bytes | None], bytes | None],
    *,
    private: bool,
    lock_timeout: float = 30.0,
) -> bool:
    """Atomically replace ``path`` with ``transform(current)`` under an inter-process lock.

    ``current`` is None when the file is missing; a None result deletes the file. When the result
    equals the current content nothing is written (mtime unchanged) and False is returned; otherwise
    True. ``private=True`` (pgpass) forces mode 0600 and warns once if group/other bits are removed;
    ``private=False`` (service file) keeps the existing mode, new files get 0644 & ~umask.
    ``transform`` may raise PgiamError: then nothing is written. Raises FileSafetyError for unsafe or
    unwritable targets and for lock timeouts.
    """
    t = _resolve(path, "write")
    _make_parents(t)
    _check_dir(t, "write")
    lock_path = _prepare_lock(t)
    try:
        release = _lock(lock_path, lock_timeout)
    except _LockTimeout as exc:
        raise FileSafetyError(
            f"cannot write {t.shown}: another process has held its lock {lock_path} for more than "
            f"{lock_timeout:g}s (nothing was changed); try again later"
        ) from exc
    except OSError as exc:
        raise FileSafetyError(f"cannot lock {t.shown}: {lock_path}: {_err_text(exc)}") from exc
    try:
        # Re-check now that we hold the lock: the path may have been swapped while we waited.
        t2 = _resolve(path, "write")
        if t2 != t:
            raise FileSafetyError(f"refusing to write {t.shown}: the path changed while waiting; try again")
        _check_dir(t, "write")
        _remove_stale_temps(t)
        current, old_st = _read_checked(t, "write")
        new = transform(current)
        too_open = _MODE_BITS and private and old_st is not None and stat.S_IMODE(old_st.st_mode) & 0o077
        if new == current:
            if too_open and old_st is not None:
                # Same content, but libpq ignores the file as it is: fix the mode (mtime unchanged).
                try:
                    os.chmod(t.real, 0o600)
                except OSError as exc:
                    raise FileSafetyError(f"cannot chmod {t.shown} to 0600: {_err_text(exc)}") from exc
                _warn_mode(t.shown, old_st)
            return False
        if new is None:
            _delete(t)
            return True
        _write_replace(t, new, old_st, private)
        if too_open and old_st is not None:
            _warn_mode(t.shown, old_st)
        return True
    finally:
        release()


def hold(path: Path, timeout: float = 60.0) -> Callable[[], None]:
    """Take the inter-process lock that ``update_file(path)`` would take, without writing ``path``, and
    return its release. pgiam's reconcile holds one such lock (on a name of its own) across its writes,
    so that concurrent verbs never interleave their read-plan-write cycles."""
    t = _resolve(path, "lock")
    _make_parents(t)
    _check_dir(t, "lock")
    lock_path = _prepare_lock(t)
    try:
        return _lock(lock_path, timeout)
    except _LockTimeout as exc:
        raise FileSafetyError(
            f"another pgiam has held {lock_path} for more than {timeout:g}s (nothing was changed); "
            "try again later"
        ) from exc
    except OSError as exc:
        raise FileSafetyError(f"cannot lock {lock_path}: {_err_text(exc)}") from exc
