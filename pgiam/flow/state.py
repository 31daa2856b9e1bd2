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
    known = set(ServiceState.__dataclass_fields__)
    if isinstance(services, dict):
        for name, entry in services.items():
            if isinstance(entry, dict):
                st.services[name] = ServiceState(
                    **{k: v for k, v in entry.items() if k in known and (v is None or isinstance(v, str))}
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
    """Indented JSON, one record per line: json's indent= falls back to its pure-Python encoder,
    which costs ~0.1 s for 1000 services; each line here goes through the C encoder."""

    def block(rows: list[str], indent: str) -> str:
        return "{\n" + ",\n".join(rows) + f"\n{indent}}}" if rows else "{}"

    svc_rows = [f"    {json.dumps(k)}: {json.dumps(_fields(v), sort_keys=True)}"
                for k, v in sorted(st.services.items())]
    entry_rows = []
    for path, recs in sorted(st.entries.items()):
        if recs:
            rows = [f"      {json.dumps(k)}: {json.dumps(_entry(r), sort_keys=True)}" for k, r in sorted(recs.items())]
            entry_rows.append(f"    {json.dumps(path)}: {block(rows, '    ')}")
    stanza_rows = []
    for path, srecs in sorted(st.stanzas.items()):
        if srecs:
            rows = [f"      {json.dumps(k)}: {json.dumps(_stanza(r), sort_keys=True)}"
                    for k, r in sorted(srecs.items())]
            stanza_rows.append(f"    {json.dumps(path)}: {block(rows, '    ')}")
    return (
        f'{{\n  "entries": {block(entry_rows, "  ")},\n  "services": {block(svc_rows, "  ")},\n'
        f'  "stanzas": {block(stanza_rows, "  ")},\n  "version": {VERSION}\n}}\n'
    ).encode()


def _fields(s: ServiceState) -> dict[str, Any]:
    return {k: getattr(s, k) for k in ServiceState.__dataclass_fields__}


def _entry(r: EntryRecord) -> dict[str, Any]:
    return {"owners": [list(o) for o in r.owners], "signer": r.signer, "hashes": r.hashes,
            "displaced": r.displaced}


def _stanza(r: StanzaRecord) -> dict[str, Any]:
    return {"owner": list(r.owner), "displaced": r.displaced}


def load(path: Path) -> State:
    try:
        return parse(atomic.read_file(path))
    except Exception:
        return State()


def save(path: Path, st: State) -> None:
    """Write the whole state (the caller holds pgiam's reconcile lock)."""
    atomic.update_file(path, lambda _current: dump(st), private=True)


def update(path: Path, changes: dict[str, ServiceState], removed: tuple[str, ...] = ()) -> None:
    """Merge per-service changes into the state file under its lock (ownership records untouched)."""

    def transform(current: bytes | None) -> bytes:
        st = parse(current)
        st.services.update(changes)
        for name in removed:
            st.services.pop(name, None)
        return dump(st)

    atomic.update_file(path, transform, private=True)
