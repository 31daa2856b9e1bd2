"""bulk.service_upsert_all == the sequential servicefile.upserts it stands for (skipping stanzas that
would not change), for any service file and any mix of new, managed, foreign and invalid stanzas."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from pgiam.errors import PgiamError
from pgiam.libpq import bulk, servicefile

Params = Sequence[tuple[str, str]]

NAMES = st.sampled_from(["a", "b", "c", "d", "bad name", "e"])
PARAMS = st.sampled_from([
    [("host", "h1"), ("port", "5432")],
    [("host", "h2")],
    [("host", "h1"), ("sslmode", "verify-full")],
    [("host", "x" * 300)],
    [("service", "nope")],
])
CHUNKS = st.sampled_from([
    b"[a]\n# pgiam: managed by pgiam; do not edit this stanza\nhost=h1\nport=5432\n",
    b"[b]\nhost=foreign\n", b"# comment\n", b"\n", b"[c]\r\nhost=h2\r\n", b"tail-without-newline",
    b"[a]\nhost=dup\n", b"\r", b"   \n",
])


def sequential(data: bytes, items: list[tuple[str, Params]], force: bool) -> tuple[bytes, list[str], set[str]]:
    index = bulk.ServiceIndex(data)
    out, warns, failed = data, [], set()
    for name, params in items:
        if index.unchanged_by_upsert(name, params, force):
            continue
        try:
            out, w = servicefile.upsert(out, name, params, force=force)
        except PgiamError:
            failed.add(name)
            continue
        warns.extend(w)
    return out, warns, failed


@settings(max_examples=500, deadline=None)
@given(st.lists(CHUNKS, max_size=6), st.lists(st.tuples(NAMES, PARAMS), max_size=6), st.booleans())
def test_same_as_sequential_upserts(chunks: list[bytes], items: list[tuple[str, Params]], force: bool) -> None:
    data = b"".join(chunks)
    want, want_warns, want_failed = sequential(data, items, force)
    got, got_warns, got_failed = bulk.service_upsert_all(data, items, force)
    assert got == want
    assert set(got_failed) == want_failed
    assert got_warns == want_warns


def test_many_new_stanzas_in_one_join() -> None:
    items = [(f"s{i}", [("host", f"h{i}"), ("port", "5432")]) for i in range(1000)]
    got, _, failed = bulk.service_upsert_all(b"# mine\n", items, False)
    assert not failed and got == sequential(b"# mine\n", items, False)[0]
