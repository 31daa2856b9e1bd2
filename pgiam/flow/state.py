"""pgiam's small state file: per service, last refresh, last error and the credential expiry
that bounds the token's life. JSON, mode 0600, written through atomic.update_file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgiam import atomic


@dataclass
class ServiceState:
    last_refresh: str | None = None  # ISO-8601 Z
    last_error: str | None = None
    token_sha256: str | None = None  # which token the expiry below belongs to
    expires_at: str | None = None  # effective expiry of that token (ISO-8601 Z)
    credential_source: str | None = None


def token_hash(token: str) -> str:
    import hashlib  # local: the no-op refresh rarely needs it (see refresh.token_expiry)

    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def parse(data: bytes | None) -> dict[str, ServiceState]:
    """Tolerant: a missing, corrupt or foreign state file is an empty state."""
    if not data:
        return {}
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return {}
    services = doc.get("services") if isinstance(doc, dict) else None
    if not isinstance(services, dict):
        return {}
    known = set(ServiceState.__dataclass_fields__)
    out: dict[str, ServiceState] = {}
    for name, entry in services.items():
        if isinstance(entry, dict):
            out[name] = ServiceState(
                **{k: v for k, v in entry.items() if k in known and (v is None or isinstance(v, str))}
            )
    return out


def dump(states: dict[str, ServiceState]) -> bytes:
    """Indented JSON, one service per line: json's indent= falls back to its pure-Python encoder,
    which costs ~0.1 s for 1000 services; each line here goes through the C encoder."""
    rows = [f"    {json.dumps(k)}: {json.dumps(_fields(v), sort_keys=True)}"
            for k, v in sorted(states.items())]
    body = "{\n" + ",\n".join(rows) + "\n  }" if rows else "{}"
    return f'{{\n  "services": {body},\n  "version": 1\n}}\n'.encode()


def _fields(s: ServiceState) -> dict[str, Any]:
    return {k: getattr(s, k) for k in ServiceState.__dataclass_fields__}


def load(path: Path) -> dict[str, ServiceState]:
    try:
        return parse(atomic.read_file(path))
    except Exception:
        return {}


def update(path: Path, changes: dict[str, ServiceState], removed: tuple[str, ...] = ()) -> None:
    """Merge per-service changes into the state file under its lock."""

    def transform(current: bytes | None) -> bytes:
        states = parse(current)
        states.update(changes)
        for name in removed:
            states.pop(name, None)
        return dump(states)

    atomic.update_file(path, transform, private=True)
