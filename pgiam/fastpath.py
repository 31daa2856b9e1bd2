"""The no-op gate: a scheduled `pgiam refresh` that has nothing to do exits before importing the CLI.

The full refresh stays the single source of truth. When it ends a run in which every service was
fresh, nothing was written, nothing was printed and no input changed under it, it records (here, in
one place: `record`; one record per command line and environment) a fingerprint of everything
that could change its answer, and the earliest time at which some token enters its refresh window
(the due time):

- the pgiam version and the stat of the installed package,
- the command line (only the plain forms `gate` accepts: `refresh`, `-q`, `--config/--pgpass/
  --service-file PATH`) and the working directory,
- the environment variables that locate files or pick credentials (PGIAM_*, PG*, XDG_*, AWS_*, HOME;
  secret ones by presence only, so no secret is ever written),
- the stat (device, inode, size, mtime, ctime, mode, owner) of the config, the site config, pgpass,
  the service file and the state file.

The next run compares: all equal and the clock between the recording and the due time -> exit 0 at
once. Anything else (a touched file, another variable, a clock past due or set back, an unreadable
record) takes the full path, which records afresh. Imports only os, sys and time (all loaded by the
interpreter anyway).
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False  # (not typing's: importing typing costs ~2 ms on the path this module exists for)
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from pgiam.flow.context import Context

FORMAT = "pgiam-fastpath 1"
MARGIN = 2  # seconds before the due time at which the gate stops trusting the record
SUFFIX = ".fastpath"
_VALUED = ("--config", "--pgpass", "--service-file")
_QUIET = ("-q", "--quiet")
_PREFIXES = ("PGIAM_", "PG", "XDG_", "AWS_")
_SECRET = frozenset({"PGPASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                     "AWS_CONTAINER_AUTHORIZATION_TOKEN"})

# the command line main() is running (set by main(); record() only records the plain forms)
argv: tuple[str, ...] | None = None


def eligible(args: Sequence[str]) -> bool:
    """Exactly `[--config P] [--pgpass P] [--service-file P] [-q] refresh [-q]` (globals on either side)."""
    verb = False
    i = 0
    while i < len(args):
        a = args[i]
        if a in _VALUED:
            if i + 1 >= len(args):
                return False
            i += 2
            continue
        if a == "refresh" and not verb:
            verb = True
        elif a not in _QUIET:
            return False
        i += 1
    return verb


def record_path(env: Mapping[str, str]) -> str | None:
    """Where the records live (this, plus "-" and a hash of what each is for): beside the state file,
    as pgiam.config.paths.state_path finds it on Linux and the BSDs; elsewhere the gate stays closed
    and every run takes the full path."""
    chosen = env.get("PGIAM_STATE")
    if chosen:
        return os.path.expanduser(chosen) + SUFFIX
    if os.name == "nt" or sys.platform in ("darwin", "ios", "android") or hasattr(sys, "getandroidapilevel"):
        return None
    if env.get("ANDROID_DATA") == "/data" and env.get("ANDROID_ROOT") == "/system":
        return None
    xdg = env.get("XDG_STATE_HOME", "")
    if os.path.isabs(xdg):
        return os.path.join(xdg, "pgiam", "state.json" + SUFFIX)
    home = env.get("HOME", "")
    if not os.path.isabs(home):
        return None
    # (what os.path.expanduser("~/.local/state") gives for this HOME; env may not be os.environ)
    return os.path.join(home.rstrip("/") + "/.local/state", "pgiam", "state.json" + SUFFIX)


def _env_key(env: Mapping[str, str]) -> str:
    items = sorted(
        (k, "<set>" if k in _SECRET else v) for k, v in env.items() if k == "HOME" or k.startswith(_PREFIXES)
    )
    return repr(items)


def _sig(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return "-"
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_mode}:{st.st_uid}"


def _key(head: list[str]) -> str:
    """An FNV-1a-style hash (64 bit, over 8-byte words) of the header: one record per command line and
    environment, so a user's own job and root's --all-users pass (other variables) do not overwrite
    each other's record. The header is compared in full too; this only picks the file. (No hashlib: it
    loads OpenSSL; words, not bytes: a Python loop over ~800 bytes cost ~0.1 ms.)"""
    data = "\n".join(head).encode("utf-8", "surrogateescape")
    data += b"\0" * (-len(data) % 8)
    h = 0xCBF29CE484222325
    for w in memoryview(data).cast("Q"):
        h = ((h ^ w) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def _header(args: Sequence[str], env: Mapping[str, str]) -> list[str]:
    import pgiam

    return [FORMAT, f"version {pgiam.__version__} {_sig(pgiam.__file__ or '')}", f"argv {tuple(args)!r}",
            f"cwd {os.getcwd()!r}", f"env {_env_key(env)}"]


def gate(args: Sequence[str], env: Mapping[str, str] | None = None, now: float | None = None) -> bool:
    """True when the last full run's record says this run has nothing to do (the caller exits 0)."""
    try:
        if not eligible(args):
            return False
        env = os.environ if env is None else env
        base = record_path(env)
        if base is None:
            return False
        head = _header(args, env)
        with open(f"{base}-{_key(head)}", encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().split("\n")
        if lines[: len(head)] != head or lines[-1] != "end":
            return False
        times = lines[len(head)].split()
        if len(times) != 4 or times[0] != "due" or times[2] != "recorded":
            return False
        t = time.time() if now is None else now
        if not float(times[3]) <= t < float(times[1]) - MARGIN:
            return False
        for line in lines[len(head) + 1 : -1]:
            kind, sig, path = line.split(" ", 2)
            if kind != "file" or _sig(path) != sig:
                return False
        return True
    except Exception:
        return False


# --------------------------------------------------------------------------- the full path's side


class Snapshot:
    """The inputs of one full run, taken before it reads anything (see begin/record)."""

    def __init__(self, where: str, head: list[str], files: list[str], started: float) -> None:
        self.where = where
        self.head = head
        self.files = files
        self.sigs = [_sig(f) for f in files]
        self.started = started


def begin(ctx: Context) -> Snapshot | None:
    """Before the full refresh reads its inputs: their stat, when this command line may be recorded."""
    from pgiam import output

    output.count_printed()
    if argv is None or not eligible(argv):
        return None
    where = record_path(os.environ)
    if where is None or where != str(ctx.state_path) + SUFFIX:
        return None
    files = [ctx.config_path, ctx.site_config_path, ctx.pgpass, ctx.service_file, ctx.state_path]
    paths = [os.path.abspath(p) for p in files if p is not None]
    if any("\n" in p for p in paths):
        return None
    ctx.out.printed = 0
    head = _header(argv, os.environ)
    return Snapshot(f"{where}-{_key(head)}", head, paths, time.time())


def record(ctx: Context, snap: Snapshot | None, outcomes: Sequence[Any]) -> None:
    """After the full refresh: write the record when every service ended fresh, nothing was written or
    printed and no input changed during the run; otherwise remove any record (never trust an old one)."""
    if snap is None:
        return
    from pgiam import output
    from pgiam.flow.plan import MARGIN

    due: float | None = None
    ok = bool(outcomes) and ctx.out.printed == 0 and output.count_printed() == 0
    for o in outcomes:
        if o.action != "fresh" or o.error is not None or o.expires_at is None:
            ok = False
            break
        at = o.expires_at.timestamp() - o.svc.refresh_before - MARGIN.total_seconds()  # plan.due()
        due = at if due is None else min(due, at)
    ok = ok and due is not None and [_sig(f) for f in snap.files] == snap.sigs
    try:
        if not ok:
            os.unlink(snap.where)
            return
    except FileNotFoundError:
        return
    except OSError:
        return
    body = [*snap.head, f"due {due} recorded {snap.started}", *(f"file {s} {p}" for s, p in
                                                                  zip(snap.sigs, snap.files)), "end"]
    _write(snap.where, "\n".join(body))
    _prune(snap.where)


STALE = 7 * 86400  # records not rewritten for a week (an old shell's environment) are removed


def _prune(keep: str) -> None:
    d, name = os.path.split(keep)
    prefix = name.rsplit("-", 1)[0] + "-"
    limit = time.time() - STALE
    try:
        with os.scandir(d) as it:
            for e in it:
                if e.name.startswith(prefix) and e.path != keep and e.stat().st_mtime < limit:
                    _unlink(e.path)
    except OSError:
        return


def _write(where: str, text: str) -> None:
    tmp = f"{where}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(where), mode=0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)
        os.replace(tmp, where)
    except OSError:
        _unlink(tmp)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        return
