"""A parsed-config cache: the TOML parser (pure Python) is the largest single cost of a refresh over
many services (~14 ms per 1,000), and checking and building the services the next (~10 ms). The cache
keeps, per config file, the exact bytes last parsed and their parsed document (marshal: plain dicts,
lists, strings, numbers); a file whose bytes are not identical is parsed anew. It also keeps one built
config (pgiam.config.model.to_plain) under a key that holds everything building it depends on (see
Context.load_config); any other key builds anew. It lives beside the state file (private, per user) and is only an
optimisation: unreadable, corrupt or foreign caches are ignored and rewritten. It is written only
when the caller says so (`Parser.save`): `refresh` does after a run that wrote tokens and succeeded,
so a run that fails or changes nothing leaves every file as it was.
"""

from __future__ import annotations

import marshal
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

_MAGIC = "pgiam-config-cache 3"


class Parser:
    """`parse`, answered from `cache` when the bytes are exactly those parsed before."""

    def __init__(self, cache: Path, parse: Callable[[bytes, Path], dict[str, Any]]) -> None:
        self.cache = cache
        self.parse = parse
        self.entries: dict[str, tuple[bytes, dict[str, Any]]] | None = None
        self.built: tuple[Any, Any] | None = None  # (key, plain config)
        self.dirty = False

    def _load(self) -> dict[str, tuple[bytes, dict[str, Any]]]:
        if self.entries is None:
            self.entries, built = _read(self.cache, docs=True)
            self.built = self.built if self.built is not None else built
        return self.entries

    def recall(self, key: Any) -> Any:
        """The value remembered under exactly ``key``, else None (reads only that part of the file)."""
        if self.built is None and self.entries is None:
            self.built = _read(self.cache, docs=False)[1]
        return self.built[1] if self.built is not None and self.built[0] == key else None

    def remember(self, key: Any, value: Any) -> None:
        self._load()
        if self.built is None or self.built[0] != key:
            self.built = (key, value)
            self.dirty = True

    def __call__(self, data: bytes, path: Path) -> dict[str, Any]:
        entries = self._load()
        hit = entries.get(str(path))
        if hit is not None and hit[0] == data:
            return hit[1]
        doc = self.parse(data, path)
        entries[str(path)] = (data, doc)
        self.dirty = True
        return doc

    def save(self) -> None:
        """Write what was parsed anew (nothing when every file came from the cache)."""
        if self.dirty and self.entries is not None:
            _write(self.cache, self.entries, self.built)
            self.dirty = False


def parser(cache: Path, parse: Callable[[bytes, Path], dict[str, Any]]) -> Parser:
    return Parser(cache, parse)


def _read(cache: Path, docs: bool) -> tuple[dict[str, tuple[bytes, dict[str, Any]]], tuple[Any, Any] | None]:
    """(documents by path, built) from the file: three marshal values one after the other (the magic,
    the built config, the documents), so a run that needs only the built config reads no documents."""
    entries: Any = {}
    try:
        with open(cache, "rb") as f:
            if marshal.load(f) != _MAGIC:
                return {}, None
            built = marshal.load(f)
            if docs:
                entries = marshal.load(f)
    except Exception:
        return {}, None
    if not isinstance(entries, dict):
        entries = {}
    found = {k: v for k, v in entries.items()
             if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], bytes) and isinstance(v[1], dict)}
    return found, built if isinstance(built, tuple) and len(built) == 2 else None


def _write(cache: Path, entries: dict[str, tuple[bytes, dict[str, Any]]], built: tuple[Any, Any] | None) -> None:
    try:
        blob = marshal.dumps(_MAGIC) + marshal.dumps(built) + marshal.dumps(entries)
    except ValueError:  # a value marshal cannot hold (a TOML date): no cache
        return
    tmp = f"{cache}.{os.getpid()}.tmp"
    try:
        os.makedirs(cache.parent, mode=0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, cache)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            return
