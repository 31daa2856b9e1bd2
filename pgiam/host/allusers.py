"""`pgiam --all-users refresh` (root only): every user who has a pgiam config, each in its own child.

A user is visited when their config exists at the default location (~/.config/pgiam/config.toml);
their run merges the site config (PGIAM_SITE_CONFIG, else /etc/pgiam/config.toml) as any run does.
Each child is forked from this small process, drops privileges exactly as `--user` does
(pgiam.host.privileges.drop_to: groups, uid, HOME, and no AWS_/PG/XDG_/PGIAM_ setting of root's
survives except the machine-wide ones), so it reads only that user's files and credentials. The child
then runs the no-op gate (pgiam.fastpath) and, only when that cannot conclude, the full `refresh`.

Its output is collected in an unlinked file and printed prefixed with the user: one line per failing
user and service. Exit status 1 when any user's run failed, 2 when not run as root.

Kept light (os, sys, pwd only until a child needs more): on a bastion this runs every few minutes.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # (not typing's: see pgiam/fastpath.py)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    Full = Callable[[list[str]], int]  # the command line's main(argv): passed in, host/ never imports cli/

CONFIG = os.path.join(".config", "pgiam", "config.toml")  # the default location, relative to home
PARALLEL = 16  # children at a time (a no-op child forks, drops privileges, stats a few files and exits)


def users() -> list[tuple[str, Any]]:
    """(name, passwd entry) of every non-root user whose default pgiam config exists, in passwd order."""
    import pwd
    import stat

    seen: set[str] = set()
    missing: set[str] = set()  # homes without a config (system users often share one: /nonexistent)
    found: list[tuple[str, Any]] = []
    warm = True
    for e in pwd.getpwall():
        home = e.pw_dir or ""
        if e.pw_uid == 0 or e.pw_name in seen or home in missing or not home.startswith("/"):
            continue
        seen.add(e.pw_name)
        path = f"{home.rstrip('/')}/{CONFIG}"
        try:  # (os.path.isfile without its overhead, and no exception for the usual missing file:
            # this runs once per account of the machine)
            is_file = os.access(path, os.F_OK) and stat.S_ISREG(os.stat(path).st_mode)
        except (OSError, ValueError):
            is_file = False
        if not is_file:
            missing.add(home)
        else:
            found.append((e.pw_name, e))
            if warm:  # load the NSS modules for users and groups once, here: every child inherits them
                warm = False
                try:
                    pwd.getpwnam(e.pw_name)
                    os.getgrouplist(e.pw_name, e.pw_gid)
                except (KeyError, OSError):
                    pass
    return found


def _child(name: str, entry: Any, argv: Sequence[str], out: int, full: Full, base: Mapping[str, str]) -> int:
    """In the forked child: drop to NAME, then the gate, then (only if needed) the full refresh."""
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    from pgiam.host import privileges  # (imported once, in the parent)

    try:
        dropped = privileges.drop_ids(name, entry)
    except Exception as e:  # a UsageError names the problem; anything else too, in one line
        print(f"pgiam: error: {e}", file=sys.stderr, flush=True)
        return 2
    from pgiam import fastpath

    # the gate sees the user's environment as drop_to would leave it; os.environ becomes that only
    # when the full refresh must run (a no-op child then did the least work it can)
    if fastpath.gate(argv, os.environ if dropped is None else privileges.user_environ(dropped, base)):
        return 0
    if dropped is not None:
        try:
            privileges.check_python(name)
        except Exception as e:
            print(f"pgiam: error: {e}", file=sys.stderr, flush=True)
            return 2
        privileges.apply_environ(dropped)
    return full(list(argv))


def _spawn(name: str, entry: Any, argv: Sequence[str], full: Full, base: Mapping[str, str]) -> tuple[int, int]:
    """Fork a child for NAME; returns (pid, fd of the unlinked file that collects its output)."""
    if hasattr(os, "memfd_create"):  # Linux: an anonymous in-memory file, nothing on disk
        fd = os.memfd_create("pgiam-all-users", os.MFD_CLOEXEC)
    else:
        tmpdir = os.environ.get("TMPDIR") or "/tmp"
        path = os.path.join(tmpdir, f".pgiam-all-users-{os.getpid()}-{os.urandom(6).hex()}")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        os.unlink(path)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child (its behaviour is tested through the CLI)
        code = 70
        try:
            code = _child(name, entry, argv, fd, full, base)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException as e:
            print(f"pgiam: error: {e}", file=sys.stderr)
            code = 1
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    return pid, fd


def _report(name: str, fd: int, status: int, quiet: bool) -> bool:
    """Print the child's lines with the user named; True when it failed."""
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while True:
        b = os.read(fd, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(fd)
    text = b"".join(chunks).decode("utf-8", "replace")
    code = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8
    err = "pgiam: error: "
    said_error = False
    for line in text.splitlines():
        if line.startswith(err):
            said_error = True
            print(f"{err}user {name}: {line[len(err):]}", file=sys.stderr, flush=True)
        elif line.startswith("pgiam: "):
            if not quiet:
                print(f"pgiam: user {name}: {line[len('pgiam: '):]}", file=sys.stderr, flush=True)
        elif line and not quiet:
            print(f"{name}: {line}", flush=True)
    if code != 0 and not said_error:
        why = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
        print(f"{err}user {name}: refresh failed ({why})", file=sys.stderr, flush=True)
    return code != 0


def refresh(argv: Sequence[str], full: Full, parallel: int = PARALLEL) -> int:
    """Run `pgiam ARGV` (a refresh command line) for every user with a config; the exit status.
    `full` runs the command line (pgiam.cli.main.main) in a child whose no-op gate could not answer."""
    if not hasattr(os, "fork") or not hasattr(os, "geteuid"):
        print("pgiam: error: --all-users works on Unix only", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("pgiam: error: --all-users: only root can act for every user; run `pgiam refresh` as each "
              "user instead (or ask root to install `pgiam --all-users schedule install`)", file=sys.stderr)
        return 2
    quiet = any(a in ("-q", "--quiet") for a in argv)
    import pgiam.host.privileges  # every child needs it: import it once, before forking
    from pgiam import fastpath  # noqa: F401 - likewise

    todo = users()
    # what of root's environment a user's run keeps, worked out once here rather than in every child
    base = pgiam.host.privileges.user_environ(None, os.environ)
    running: dict[int, tuple[str, int]] = {}
    failed = False
    while todo or running:
        while todo and len(running) < max(1, parallel):
            name, entry = todo.pop(0)
            pid, fd = _spawn(name, entry, argv, full, base)
            running[pid] = (name, fd)
        pid, status = os.waitpid(-1, 0)
        if pid not in running:
            continue
        name, fd = running.pop(pid)
        failed = _report(name, fd, status, quiet) or failed
    return 1 if failed else 0
