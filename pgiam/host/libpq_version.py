"""Which libpq the local clients use: `pg_config --version`, else `psql --version`.

Kept small and free of policy; the rules that depend on the version live with their callers.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import lru_cache

ENV_OVERRIDE = "PGIAM_LIBPQ_VERSION"  # e.g. "15.4" (tests, or a client pgiam cannot find)
_VERSION_RE = re.compile(r"(?<![\d.])(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def parse_version(text: str) -> tuple[int, int] | None:
    """(major, minor) from `PostgreSQL 15.18 (Debian ...)`, `psql (PostgreSQL) 16.2`, `17devel`, `9.6.24`.

    The pair is ``divmod(PG_VERSION_NUM, 10000)`` (what PQlibVersion() returns, split), so pairs compare
    the way releases do: from 10 on (major, patch level), 15.18 -> (15, 18); before 10 the patch level
    is folded into the second number, 9.6.20 -> (9, 620), because libpq fixes landed in 9.x point
    releases (see pgiam.libpq.rules).
    """
    m = _VERSION_RE.search(text)
    if m is None:
        return None
    major, minor = int(m.group(1)), int(m.group(2) or 0)
    if major < 10:
        return major, minor * 100 + int(m.group(3) or 0)
    return major, minor


def format_version(version: tuple[int, int] | None) -> str:
    """(15, 18) -> "15.18", (9, 620) -> "9.6.20", None -> "unknown"."""
    if version is None:
        return "unknown"
    major, rest = version
    return f"{major}.{rest}" if major >= 10 else f"{major}.{rest // 100}.{rest % 100}"


def _run(argv: list[str]) -> str | None:
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


@lru_cache(maxsize=1)
def _detect_tools() -> tuple[int, int] | None:
    for argv in (["pg_config", "--version"], ["psql", "--version"]):
        out = _run(argv)
        found = parse_version(out) if out else None
        if found is not None:
            return found
    return None


def detect() -> tuple[int, int] | None:
    """The local libpq version, or None when no PostgreSQL client tool is found (cached per run)."""
    override = os.environ.get(ENV_OVERRIDE)
    if override:
        return parse_version(override)
    return _detect_tools()
