"""Splitting file bytes into raw lines that join back to exactly the same bytes."""

from __future__ import annotations


def split_raw(data: bytes) -> list[bytes]:
    """Lines with their LF kept; a last line without LF is kept as it is: b"".join(result) == data."""
    parts = data.split(b"\n")
    out = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out
