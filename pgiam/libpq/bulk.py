"""One parse per file per run: indexes and batched edits over pgpass and pg_service.conf text.

The per-key functions in pgpass.py and servicefile.py parse the whole text on every call, so asking
them about N services in an N-entry file costs O(N²). These helpers give the same answers from one
parse. Each is exactly equivalent to the per-key function it stands for (see the tests in
tests/test_bulk.py); where equivalence would need more than a simple, provable rule, they fall back to
the per-key functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pgiam.errors import PgiamError
from pgiam.libpq import pgpass, servicefile
from pgiam.libpq.pgpass import Key

_FieldKey = tuple[tuple[bytes, ...], tuple[bool, ...]]


def _key_fields(key: Key) -> _FieldKey:
    h, p, d, u = key.host, key.port, key.dbname, key.user
    enc = (h.encode("utf-8", "surrogateescape"), p.encode("utf-8", "surrogateescape"),
           d.encode("utf-8", "surrogateescape"), u.encode("utf-8", "surrogateescape"))
    star = pgpass.WILDCARD
    return enc, (h == star, p == star, d == star, u == star)


# --------------------------------------------------------------------------- pgpass: reading


class PgpassIndex:
    """``find(key)`` and ``chosen(key)`` for many keys over one text, from one parse."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._first: dict[_FieldKey, int] = {}
        self._lines = pgpass.parse(data)
        self._wild: list[int] = []
        for idx, line in enumerate(self._lines):
            if line.is_entry and line.fields is not None:
                self._first.setdefault((line.fields[:4], line.wildcards[:4]), idx)
                if any(line.wildcards[:4]) and len(line.fields) >= 5:
                    self._wild.append(idx)

    @property
    def lines(self) -> list[pgpass.Line]:
        """``pgpass.parse(self.data)`` (do not change it)."""
        return self._lines

    def find(self, key: Key) -> tuple[int, str] | None:
        """Same as ``pgpass.find(data, key)``."""
        try:
            fk = _key_fields(key)
        except UnicodeEncodeError:  # pgpass.find raises (or not) on such keys its own way
            return pgpass.find(self.data, key)
        idx = self._first.get(fk)
        if idx is None:
            return None
        fields = self._lines[idx].fields
        assert fields is not None
        return idx, fields[4].decode("utf-8", "surrogateescape")

    def raw(self, idx: int) -> bytes:
        """The bytes of line ``idx`` (terminator included)."""
        return self._lines[idx].raw

    def chosen(self, key: Key) -> int | None:
        """The index of the line libpq picks for the key's connection (``pgpass.lookup``), or None.

        For keys without ``*`` or ``:`` in a field and text without NUL, a line matches exactly when it
        is a five-field entry whose first four fields are each an unescaped ``*`` or equal to the key's
        (see _upsert_fast); anything else asks ``pgpass.lookup``.
        """
        fields = key.fields()
        if pgpass.WILDCARD in fields or any(":" in v for v in fields) or b"\0" in self.data:
            found = pgpass.lookup(self.data, *fields)
            return None if found is None else found[0]
        try:
            enc, wild = _key_fields(key)
        except UnicodeEncodeError:
            found = pgpass.lookup(self.data, *fields)
            return None if found is None else found[0]
        idx = self._first.get((enc, wild))
        if idx is not None and (self._lines[idx].fields is None or len(self._lines[idx].fields or ()) < 5):
            idx = None
        for w in self._wild:
            if idx is not None and w > idx:
                break
            if _wild_matches(self._lines[w], enc):
                return w
        return idx


# --------------------------------------------------------------------------- pgpass: writing


def _newline(lines: Sequence[pgpass.Line]) -> bytes:
    for line in lines:
        if line.raw.endswith(b"\n"):
            return b"\r\n" if line.raw.endswith(b"\r\n") else b"\n"
    return b"\n"


def _terminator(raw: bytes) -> bytes:
    return raw[len(raw.rstrip(b"\r\n")) :]


def pgpass_upsert_all(data: bytes, items: Sequence[tuple[Key, str]],
                      formatted: Mapping[Key, bytes] | None = None, index: PgpassIndex | None = None) -> bytes:
    """Same as applying ``pgpass.upsert`` for each (key, password) in order, in one pass when it can.
    ``formatted``: ``pgpass.format_line(key, password)`` of items, where the caller has it already;
    ``index``: an index the caller made of these very bytes (its parse is reused)."""
    out = None
    if b"\0" not in data:  # (with a NUL the first upsert raises after validating only its own item)
        done = formatted or {}
        bodies = [(key, (done.get(key) or pgpass.format_line(key, password))[:-1])  # may raise
                  for key, password in items]
        out = _upsert_fast(data, bodies, index.lines if index is not None and index.data == data else None)
    if out is None:
        out = data
        for key, password in items:
            out = pgpass.upsert(out, key, password)
    return out


def _upsert_fast(data: bytes, bodies: Sequence[tuple[Key, bytes]],
                 parsed: list[pgpass.Line] | None = None) -> bytes | None:
    """The common case, or None.

    Sound because, for keys without ``*`` fields and a file without NUL bytes (the caller checks), a
    line could match a key's connection exactly when it is a five-field entry whose first four fields
    are each an unescaped ``*`` or equal to the key's. So replacing one owned line (keeping its four
    fields) or appending a line never changes which line matches any *other* key, and the sequential
    upserts commute. Each key must then either own exactly one line that is also the first line that
    could match it (replaced in place), or own none with no line that could match (appended; only when
    the text is empty or ends in a newline, so that the newline style stays fixed).
    """
    latest: dict[Key, bytes] = {}
    for key, body in bodies:
        if pgpass.WILDCARD in key.fields() or any(":" in v for v in key.fields()):
            # a bare ':' in a line's field also matches a ':' inside the value (IPv6 hosts, odd
            # names): such a line can match the key without its split fields being equal to it
            return None
        latest[key] = body  # a repeated key ends where its first upsert put it, with the last value
    lines = parsed if parsed is not None else pgpass.parse(data)
    owned: dict[tuple[bytes, ...], list[int]] = {}
    wild: list[int] = []
    for idx, line in enumerate(lines):
        if not line.is_entry or line.fields is None:
            continue
        if any(line.wildcards[:4]):
            wild.append(idx)
        else:
            owned.setdefault(line.fields[:4], []).append(idx)
    raws = [line.raw for line in lines]
    appends: list[bytes] = []
    for key, body in latest.items():
        enc, _ = _key_fields(key)
        own = owned.get(enc, [])
        first_wild = next((i for i in wild if _wild_matches(lines[i], enc)), None)
        if len(own) == 1 and (first_wild is None or first_wild > own[0]):
            raws[own[0]] = body + _terminator(raws[own[0]])
        elif not own and first_wild is None:
            appends.append(body)
        else:
            return None
    if appends:
        if data and not data.endswith(b"\n"):
            return None
        nl = _newline(lines)
        raws.extend(body + nl for body in appends)
    return b"".join(raws)


def _wild_matches(line: pgpass.Line, enc: tuple[bytes, ...]) -> bool:
    assert line.fields is not None
    return all(line.wildcards[i] or line.fields[i] == enc[i] for i in range(4))


# --------------------------------------------------------------------------- service file


class ServiceIndex:
    """``get`` / ``is_managed`` for many names over one pg_service.conf text.

    The first ``[name]`` section is cut out once; asking servicefile about that slice alone gives what
    it says about the whole text, since it only ever reads the first matching section. For a name
    containing ``]`` (never a valid service name) it asks about the whole text.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._read: dict[str, tuple[list[tuple[str, str]] | None, bool | None]] = {}  # name -> lookup()
        self._sections: dict[bytes, bytes] = {}
        for section in servicefile.parse(data).sections:
            if section.name is not None and section.name not in self._sections:
                self._sections[section.name] = section.header + b"".join(section.body)

    def section(self, name: str) -> bytes:
        """The text of the first ``[name]`` section ('' when there is none)."""
        if "]" in name:
            return self.data
        return self._sections.get(name.encode("utf-8", "surrogateescape"), b"")

    def _lookup(self, name: str) -> tuple[list[tuple[str, str]] | None, bool | None]:
        found = self._read.get(name)
        if found is None:
            found = self._read[name] = servicefile.lookup(self.section(name), name)
        return found

    def get(self, name: str) -> list[tuple[str, str]] | None:
        pairs = self._lookup(name)[0]
        return None if pairs is None else list(pairs)

    def is_managed(self, name: str) -> bool | None:
        return self._lookup(name)[1]

    def unchanged_by_upsert(self, name: str, params: Sequence[tuple[str, str]], force: bool) -> bool:
        """Whether ``servicefile.upsert`` would leave the stanza's bytes as they are."""
        text = self.section(name)
        if not text or "]" in name or _first_newline(text) != _first_newline(self.data):
            return False  # (upsert writes the stanza with the whole file's newline style)
        if servicefile.stanza_intact(text, name, params):
            return True  # (what upsert would say, without splicing)
        try:
            new, _ = servicefile.upsert(text, name, params, force=force)
        except Exception:
            return False
        return new == text


def _first_newline(data: bytes) -> bytes:
    i = data.find(b"\n")
    return b"\r\n" if i > 0 and data[i - 1 : i] == b"\r" else b"\n"


def service_upsert_all(
    data: bytes, items: Sequence[tuple[str, Sequence[tuple[str, str]]]], force: bool
) -> tuple[bytes, list[str], dict[str, PgiamError]]:
    """``servicefile.upsert`` of every (name, params) in turn, skipping stanzas it would leave as they
    are: (new text, warnings in item order, refusals by name). Stanzas for names the text does not
    contain are appended together at the end (one join, not one per stanza: the first refresh of
    10,000 services was quadratic); that is the same text, since appending never moves or changes the
    lines an in-place upsert replaces (tests/libpq/test_bulk_services.py checks it against the
    sequential upserts)."""
    if not items:
        return data, [], {}
    index = ServiceIndex(data)
    names = [name for name, _ in items]
    batch = len(set(names)) == len(names)
    nl = servicefile.newline_of(data)
    out = data
    appended: list[list[bytes]] = []
    notes: list[str] = []
    failed: dict[str, PgiamError] = {}
    for name, params in items:
        if index.unchanged_by_upsert(name, params, force):
            continue
        try:
            if batch and "]" not in name and not index.section(name):
                stanza, warns = servicefile.render(name, params, nl)
                appended.append(stanza)
            else:
                out, warns = servicefile.upsert(out, name, params, force=force)
        except PgiamError as e:
            failed[name] = e
            continue
        notes.extend(warns)
    if appended:
        out = servicefile.append_stanzas(out, appended, nl)
    return out, notes, failed
