"""Which libpq the local clients use: `pg_config --version`, else `psql --version`.

Kept small and free of policy; the rules that depend on the version live with their callers.
Running the tool costs 15-40 ms, on every run that writes a token: a run that succeeded can remember
the answer (`keep`) in a small file in pgiam's state directory, keyed by which tools PATH finds and
their identity on disk (inode, size, mtime), and by everything Debian's wrapper scripts consult to
pick a version at each call (the installed versions and their programs, the clusters, the cluster
choices, PGCLUSTER, whether PGHOST is set). Any change there, and the tool is asked again.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

from pgiam.libpq.version import format_version, parse_version

__all__ = ["ENV_OVERRIDE", "detect", "forget", "format_version", "keep", "parse_version"]

ENV_OVERRIDE = "PGIAM_LIBPQ_VERSION"  # e.g. "15.4" (tests, or a client pgiam cannot find)


def _run(argv: list[str]) -> str | None:
    import subprocess  # (only when the version is not remembered: ~2.5 ms of imports)

    exe = shutil.which(argv[0])
    if exe is None:
        return None
    try:
        proc = subprocess.run(
            [exe, *argv[1:]], capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


_KNOWN = "version"
_answer: dict[str, tuple[int, int] | None] = {}  # this process's answer, once found
_asked: dict[str, list[object]] = {}  # the tools' key, when this process ran one (what `keep` records)


def _detect_tools() -> tuple[int, int] | None:
    if _KNOWN in _answer:
        return _answer[_KNOWN]
    found = None
    for argv in (["pg_config", "--version"], ["psql", "--version"]):
        out = _run(argv)
        found = parse_version(out) if out else None
        if found is not None:
            break
    _answer[_KNOWN] = found
    return found


def detect(remember: Path | None = None) -> tuple[int, int] | None:
    """The local libpq version, or None when no PostgreSQL client tool is found (cached per run;
    across runs too in the file ``remember``, when given)."""
    override = os.environ.get(ENV_OVERRIDE)
    if override:
        return parse_version(override)
    if remember is None or _KNOWN in _answer:
        return _detect_tools()
    key = _tools_key()
    if not key:
        return _detect_tools()
    recalled = _recall(remember, key)
    if recalled is not None:
        _answer[_KNOWN] = recalled
        return recalled
    found = _detect_tools()
    if found is not None:
        _asked[_KNOWN] = key
    return found


def keep(remember: Path) -> None:
    """Record the version this process had to ask a tool for (a run that succeeded calls this: a run
    that fails leaves every file as it was). Best effort, through pgiam's safe writer: a file that
    cannot be written only means the tool is asked again next time."""
    from pgiam import atomic
    from pgiam.errors import PgiamError

    key, found = _asked.pop(_KNOWN, None), _answer.get(_KNOWN)
    if key is None or found is None:
        return
    data = json.dumps({"key": key, "version": list(found)}).encode()
    with contextlib.suppress(PgiamError):
        atomic.update_file(remember, lambda _current: data, private=True)


def forget() -> None:
    """Drop what this process found (tests: a new PATH)."""
    _answer.clear()
    _asked.clear()


# What Debian's wrappers (postgresql-common: /usr/bin/pg_config, pg_wrapper behind psql) consult to
# pick a version at each call: the installed versions and their programs, the clusters, the user's and
# the machine's cluster choice, libpq-dev's own pg_config. (Elsewhere pg_config is the real program,
# or an alternatives symlink whose target is part of the key anyway.)
_VERSIONS_ROOT = "/usr/lib/postgresql"
_CLUSTERS_ROOT = "/etc/postgresql"
_CHOICES = ("/usr/bin/pg_config.libpq-dev", "/etc/postgresql-common/user_clusters", "~/.postgresqlrc")


def _stat_key(path: str) -> list[object] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def _tools_key() -> list[object]:
    key: list[object] = []
    for tool in ("pg_config", "psql"):
        exe = shutil.which(tool)
        if exe is None:
            continue
        found = _stat_key(exe)
        if found is None:
            return []
        key.append([os.path.realpath(exe), *found])
    if not key:
        return key
    key.append([_stat_key(os.path.expanduser(p)) for p in _CHOICES])
    for root, sub in ((_VERSIONS_ROOT, "bin"), (_CLUSTERS_ROOT, "")):
        key.append(_stat_key(root))
        try:
            names = sorted(os.listdir(root))
        except OSError:
            names = []
        key.append([_stat_key(os.path.join(root, n, sub)) for n in names])
    key.append([os.environ.get("PGCLUSTER", ""), "PGHOST" in os.environ])
    return key


def _recall(path: Path, key: list[object]) -> tuple[int, int] | None:
    from pgiam import atomic
    from pgiam.errors import PgiamError

    try:
        doc = json.loads(atomic.read_file(path) or b"null")
        if doc.get("key") == key:
            major, minor = doc["version"]
            if isinstance(major, int) and isinstance(minor, int):
                return major, minor
    except (PgiamError, ValueError, TypeError, KeyError, AttributeError):
        pass
    return None
