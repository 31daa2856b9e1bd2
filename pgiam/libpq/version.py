"""libpq version numbers as text and as comparable pairs. Pure."""

from __future__ import annotations

import re

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
