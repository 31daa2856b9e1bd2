"""pgiam's state file: per service its last refresh and error, and which pgpass lines and stanzas
pgiam wrote (ownership), so that a line or stanza pgiam did not write is never taken or removed.

JSON, mode 0600, written through atomic.update_file. Version 1 files (no ownership records) are read
as they are; their per-service token hashes still prove which pgpass lines are pgiam's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgiam import atomic

_encode_string = json.encoder.encode_basestring_ascii  # what json.dumps does to a str (ensure_ascii)

VERSION = 2


@dataclass
class ServiceState:
    last_refresh: str | None = None  # ISO-8601 Z
    last_error: str | None = None
    token_sha256: str | None = None  # which token the expiry below belongs to
    expires_at: str | None = None  # effective expiry of that token (ISO-8601 Z)
    credential_source: str | None = None


@dataclass
class EntryRecord:
    """A pgpass line pgiam wrote: who needs it, what signs it, which passwords are pgiam's."""

    owners: list[tuple[str, str]] = field(default_factory=list)  # (config path, service name)
    signer: str = ""
    hashes: list[str] = field(default_factory=list)  # sha256 of the passwords pgiam wrote (newest last)
    displaced: str | None = None  # the user's line a forced takeover replaced (latin-1 text of its bytes)


@dataclass
class StanzaRecord:
    """A stanza pgiam wrote, and the user's stanza a forced takeover replaced."""

    owner: tuple[str, str] = ("", "")  # (config path, service name)
    displaced: str | None = None  # latin-1 text of the replaced stanza's bytes


@dataclass
class State:
    services: dict[str, ServiceState] = field(default_factory=dict)
    entries: dict[str, dict[str, EntryRecord]] = field(default_factory=dict)  # pgpass path -> key -> record
    stanzas: dict[str, dict[str, StanzaRecord]] = field(default_factory=dict)  # service file -> name -> record


def clone(st: State) -> State:
    """A copy whose records can be changed without touching ``st`` (what copy.deepcopy does, at a
    tenth of its cost for a thousand services)."""
    return State(
        services={n: ServiceState(s.last_refresh, s.last_error, s.token_sha256, s.expires_at, s.credential_source)
                  for n, s in st.services.items()},
        entries={p: {k: EntryRecord(list(r.owners), r.signer, list(r.hashes), r.displaced) for k, r in recs.items()}
                 for p, recs in st.entries.items()},
        stanzas={p: {n: StanzaRecord(r.owner, r.displaced) for n, r in recs.items()} for p, recs in st.stanzas.items()},
    )


def token_hash(token: str) -> str:
    import hashlib  # local: the no-op refresh rarely needs it

    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def _strs(v: Any) -> list[str]:
    return [x for x in v if isinstance(x, str)] if isinstance(v, list) else []


def _owner(v: Any) -> tuple[str, str] | None:
    if isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v):
        return v[0], v[1]
    return None


def _opt_str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def parse(data: bytes | None) -> State:
    """Tolerant: a missing, corrupt or foreign state file is an empty state."""
    st = State()
    if not data:
        return st
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return st
    if not isinstance(doc, dict):
        return st
    services = doc.get("services")
    if isinstance(services, dict):
        for name, entry in services.items():
            if isinstance(entry, dict):  # (a field that is not a string is as good as missing)
                g = entry.get
                st.services[name] = ServiceState(
                    _opt_str(g("last_refresh")), _opt_str(g("last_error")), _opt_str(g("token_sha256")),
                    _opt_str(g("expires_at")), _opt_str(g("credential_source")),
                )
    for path, recs in _dict(doc.get("entries")).items():
        for key, rec in _dict(recs).items():
            if isinstance(rec, dict):
                st.entries.setdefault(path, {})[key] = EntryRecord(
                    owners=[o for o in map(_owner, rec.get("owners") or []) if o is not None],
                    signer=_opt_str(rec.get("signer")) or "",
                    hashes=_strs(rec.get("hashes")), displaced=_opt_str(rec.get("displaced")),
                )
    for path, recs in _dict(doc.get("stanzas")).items():
        for name, rec in _dict(recs).items():
            owner = _owner(rec.get("owner")) if isinstance(rec, dict) else None
            if isinstance(rec, dict) and owner is not None:
                st.stanzas.setdefault(path, {})[name] = StanzaRecord(owner, _opt_str(rec.get("displaced")))
    return st


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def dump(st: State) -> bytes:
    """Indented JSON, one record per line, each record as ``json.dumps(record, sort_keys=True)`` would
    write it (tests/flow/test_state.py holds the two equal): json's indent= falls back to its
    pure-Python encoder, and even the C encoder's dict handling costs ~20 ms per dump of 1000 services;
    the records' fields are known, so only their strings go through json's string encoder."""

    def block(rows: list[str], indent: str) -> str:
        return "{\n" + ",\n".join(rows) + f"\n{indent}}}" if rows else "{}"

    svc_rows = [f"    {_str(k)}: {_service_json(v)}" for k, v in sorted(st.services.items())]
    entry_rows = []
    for path, recs in sorted(st.entries.items()):
        if recs:
            rows = [f"      {_str(k)}: {_entry_json(r)}" for k, r in sorted(recs.items())]
            entry_rows.append(f"    {_str(path)}: {block(rows, '    ')}")
    stanza_rows = []
    for path, srecs in sorted(st.stanzas.items()):
        if srecs:
            rows = [f"      {_str(k)}: {_stanza_json(r)}" for k, r in sorted(srecs.items())]
            stanza_rows.append(f"    {_str(path)}: {block(rows, '    ')}")
    return (
        f'{{\n  "entries": {block(entry_rows, "  ")},\n  "services": {block(svc_rows, "  ")},\n'
        f'  "stanzas": {block(stanza_rows, "  ")},\n  "version": {VERSION}\n}}\n'
    ).encode()


def _str(s: str | None) -> str:
    return "null" if s is None else _encode_string(s)


def _strs_json(items: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(_encode_string(x) for x in items) + "]"


def _service_json(s: ServiceState) -> str:  # keys sorted, as sort_keys=True sorts them
    return (f'{{"credential_source": {_str(s.credential_source)}, "expires_at": {_str(s.expires_at)}, '
            f'"last_error": {_str(s.last_error)}, "last_refresh": {_str(s.last_refresh)}, '
            f'"token_sha256": {_str(s.token_sha256)}}}')


def _entry_json(r: EntryRecord) -> str:
    owners = "[" + ", ".join(_strs_json(o) for o in r.owners) + "]"
    return (f'{{"displaced": {_str(r.displaced)}, "hashes": {_strs_json(r.hashes)}, "owners": {owners}, '
            f'"signer": {_str(r.signer)}}}')


def _stanza_json(r: StanzaRecord) -> str:
    return f'{{"displaced": {_str(r.displaced)}, "owner": {_strs_json(r.owner)}}}'


def read(path: Path) -> bytes | None:
    """The state file's bytes; None when it is missing or cannot be read (then the state is empty)."""
    try:
        return atomic.read_file(path)
    except Exception:
        return None


def load(path: Path) -> State:
    return parse(read(path))


def save(path: Path, st: State) -> bytes:
    """Write the whole state (the caller holds pgiam's reconcile lock); returns the bytes written."""
    data = dump(st)
    atomic.update_file(path, lambda _current: data, private=True)
    return data


def update(path: Path, changes: dict[str, ServiceState], removed: tuple[str, ...] = ()) -> None:
    """Merge per-service changes into the state file under its lock (ownership records untouched)."""

    def transform(current: bytes | None) -> bytes:
        st = parse(current)
        st.services.update(changes)
        for name in removed:
            st.services.pop(name, None)
        return dump(st)

    atomic.update_file(path, transform, private=True)
