"""Which libpq the local clients use: `pg_config --version`, else `psql --version`.

Kept small and free of policy; the rules that depend on the version live with their callers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache

from pgiam.libpq.version import format_version, parse_version

__all__ = ["ENV_OVERRIDE", "detect", "format_version", "parse_version"]

ENV_OVERRIDE = "PGIAM_LIBPQ_VERSION"  # e.g. "15.4" (tests, or a client pgiam cannot find)


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
