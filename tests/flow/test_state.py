"""State file: round trip, tolerance of corrupt or foreign content, version 1 files, merge under the lock, 0600."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgiam.flow import state
from pgiam.flow.state import EntryRecord, ServiceState, StanzaRecord, State

FULL = ServiceState(last_refresh="2026-01-02T03:04:05Z", last_error="2026-01-02T03:04:05Z boom: 'x'",
                    token_sha256="ab" * 32, expires_at="2026-01-02T03:19:05Z", credential_source="env")


def svc_only(services: dict[str, ServiceState]) -> State:
    return State(services=dict(services))


def test_dump_parse_round_trip() -> None:
    s = State(
        services={"prod": FULL, "dev": ServiceState(), "ünï.cödé": ServiceState(last_error='a "quoted"\nline')},
        entries={"/home/a/.pgpass": {'["h", "5432", "db", "u"]': EntryRecord(
            owners=[("/c.toml", "prod"), ("/c.toml", "prod2")], signer="rds|||h|5432|||||", hashes=["ab" * 32],
            displaced="h:5432:db:u:old\r\n\xff")}},
        stanzas={"/home/a/.pg_service.conf": {"prod": StanzaRecord(("/c.toml", "prod"), "[prod]\nhost=x\n")}},
    )
    data = state.dump(s)
    assert state.parse(data) == s
    doc = json.loads(data)
    assert doc["version"] == 2 and list(doc["services"]) == sorted(s.services)
    assert doc["services"]["prod"] == {
        "credential_source": "env", "expires_at": "2026-01-02T03:19:05Z", "last_error": FULL.last_error,
        "last_refresh": "2026-01-02T03:04:05Z", "token_sha256": "ab" * 32,
    }


def test_a_version_1_file_is_read() -> None:
    v1 = json.dumps({"services": {"prod": {"token_sha256": "ab" * 32}}, "version": 1}).encode()
    assert state.parse(v1) == svc_only({"prod": ServiceState(token_sha256="ab" * 32)})


def test_empty_state_round_trip() -> None:
    assert state.parse(state.dump(State())) == State()
    assert json.loads(state.dump(State())) == {"entries": {}, "services": {}, "stanzas": {}, "version": 2}


optional = st.none() | st.text(max_size=20)
entries = st.builds(ServiceState, last_refresh=optional, last_error=optional, token_sha256=optional,
                    expires_at=optional, credential_source=optional)
records = st.builds(EntryRecord, owners=st.lists(st.tuples(st.text(max_size=5), st.text(max_size=5)), max_size=3),
                    signer=st.text(max_size=10), hashes=st.lists(st.text(max_size=8), max_size=3),
                    displaced=st.none() | st.text(max_size=10))


@given(st.dictionaries(st.text(min_size=1, max_size=10), entries, max_size=5),
       st.dictionaries(st.text(min_size=1, max_size=5), st.dictionaries(st.text(max_size=8), records, min_size=1,
                                                                          max_size=3), max_size=2))
def test_generated_round_trip(services: dict[str, ServiceState], recs: dict[str, dict[str, EntryRecord]]) -> None:
    s = State(services=services, entries=recs)
    assert state.parse(state.dump(s)) == s


def reference_dump(s: State) -> bytes:
    """The state file as json.dumps(record, sort_keys=True) writes each record (what dump restates)."""

    def block(rows: list[str], indent: str) -> str:
        return "{\n" + ",\n".join(rows) + f"\n{indent}}}" if rows else "{}"

    def entry(r: EntryRecord) -> dict[str, object]:
        return {"owners": [list(o) for o in r.owners], "signer": r.signer, "hashes": r.hashes,
                "displaced": r.displaced}

    def nested(recs: dict[str, dict[str, object]]) -> str:
        rows = []
        for path, inner in sorted(recs.items()):
            if inner:
                lines = [f"      {json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in sorted(inner.items())]
                rows.append(f"    {json.dumps(path)}: {block(lines, '    ')}")
        return block(rows, "  ")

    svc = [f"    {json.dumps(k)}: {json.dumps(vars(v), sort_keys=True)}" for k, v in sorted(s.services.items())]
    entries = {p: {k: entry(r) for k, r in recs.items()} for p, recs in s.entries.items()}
    stanzas = {p: {k: {"owner": list(r.owner), "displaced": r.displaced} for k, r in recs.items()}
               for p, recs in s.stanzas.items()}
    return (f'{{\n  "entries": {nested(entries)},\n  "services": {block(svc, "  ")},\n'
            f'  "stanzas": {nested(stanzas)},\n  "version": 2\n}}\n').encode()


stanza_records = st.builds(StanzaRecord, owner=st.tuples(st.text(max_size=5), st.text(max_size=5)),
                           displaced=st.none() | st.text(max_size=10))
odd_text = st.text(st.characters(), max_size=12)  # quotes, backslashes, control characters, non-ASCII, surrogates


@given(st.dictionaries(odd_text, st.builds(ServiceState, last_refresh=st.none() | odd_text,
                                           last_error=st.none() | odd_text, token_sha256=optional,
                                           expires_at=optional, credential_source=st.none() | odd_text), max_size=4),
       st.dictionaries(odd_text, st.dictionaries(odd_text, records, max_size=3), max_size=2),
       st.dictionaries(odd_text, st.dictionaries(odd_text, stanza_records, max_size=3), max_size=2))
def test_dump_writes_each_record_as_json_dumps_does(services: dict[str, ServiceState],
                                                     recs: dict[str, dict[str, EntryRecord]],
                                                     stanzas: dict[str, dict[str, StanzaRecord]]) -> None:
    s = State(services=services, entries=recs, stanzas=stanzas)
    assert state.dump(s) == reference_dump(s)


@given(st.dictionaries(st.text(max_size=5), entries, max_size=3),
       st.dictionaries(st.text(max_size=5), st.dictionaries(st.text(max_size=5), records, max_size=3), max_size=2),
       st.dictionaries(st.text(max_size=5), st.dictionaries(st.text(max_size=5), stanza_records, max_size=3),
                       max_size=2))
def test_clone_is_a_deep_copy(services: dict[str, ServiceState], recs: dict[str, dict[str, EntryRecord]],
                              stanzas: dict[str, dict[str, StanzaRecord]]) -> None:
    import copy

    s = State(services=services, entries=recs, stanzas=stanzas)
    c = state.clone(s)
    assert c == copy.deepcopy(s)
    before = state.dump(s)
    for svc in c.services.values():
        svc.last_error = "changed"
    for inner in c.entries.values():
        for r in inner.values():
            r.owners.append(("x", "y"))
            r.hashes.append("h")
            r.signer = "other"
    for sinner in c.stanzas.values():
        for sr in sinner.values():
            sr.displaced = "changed"
    c.services["new"] = ServiceState()
    assert state.dump(s) == before  # the original is untouched


@pytest.mark.parametrize(
    "data",
    [None, b"", b"{", b"\xff\xfe", b"[]", b"null", b'"x"', b'{"services": []}', b'{"services": "x"}',
     b'{"version": 1}', b'{"entries": [], "stanzas": "x"}', b'{"entries": {"p": {"k": "x"}}}'],
)
def test_corrupt_or_foreign_is_empty(data: bytes | None) -> None:
    assert state.parse(data) == State()


def test_bad_entries_and_fields_are_dropped() -> None:
    data = json.dumps({"services": {
        "a": "not a dict", "b": {"last_refresh": 5, "expires_at": "2026-01-01T00:00:00Z", "future_field": "x"},
    }, "stanzas": {"s": {"x": {"owner": "not a pair"}}}}).encode()
    assert state.parse(data) == svc_only({"b": ServiceState(expires_at="2026-01-01T00:00:00Z")})


def test_load_tolerates_missing_and_corrupt_files(tmp_path: Path) -> None:
    p = tmp_path / "state.json"
    assert state.load(p) == State()
    p.write_bytes(b"\x00garbage{")
    assert state.load(p) == State()
    state.update(p, {"a": FULL})  # and a corrupt file is replaced by a good one
    assert state.load(p) == svc_only({"a": FULL})


def test_update_merges_and_removes(tmp_path: Path) -> None:
    p = tmp_path / "sub" / "state.json"
    state.update(p, {"a": FULL, "b": ServiceState(last_error="x")})
    state.update(p, {"b": ServiceState(last_refresh="r")})
    assert state.load(p) == svc_only({"a": FULL, "b": ServiceState(last_refresh="r")})
    state.update(p, {}, removed=("a", "nonexistent"))
    assert state.load(p) == svc_only({"b": ServiceState(last_refresh="r")})
    if os.name == "posix":
        assert stat.S_IMODE(p.stat().st_mode) == 0o600


def test_token_hash() -> None:
    assert state.token_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert state.token_hash("a\udcffb") != state.token_hash("ab")  # undecodable bytes still hash
