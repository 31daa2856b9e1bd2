"""pgiam.libpq.bulk gives exactly what the per-key functions of pgpass / servicefile give, from one parse."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgiam.errors import PgiamError
from pgiam.libpq import bulk, pgpass, servicefile
from pgiam.libpq.pgpass import Key

SETTINGS = settings(max_examples=int(os.environ.get("PGIAM_HYPOTHESIS_EXAMPLES", "300")), deadline=None)

# a tiny alphabet, so that file lines and keys collide often
VALUES = ["h1", "h2", "5432", "db", "u1", "u2", "a:b", "c\\d", "*"]
value_st = st.sampled_from(VALUES)
key_st = st.builds(Key, value_st, value_st, value_st, value_st)
plain_key_st = st.builds(Key, *(st.sampled_from([v for v in VALUES if v != "*"]) for _ in range(4)))
password_st = st.sampled_from(["pw", "p:w", "x\\y", "tok/?A=1&B=2", "", "a\nb"])


@st.composite
def pgpass_line_st(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 6))
    if kind <= 3:  # an entry, escaped the usual way or oddly (\x for x), sometimes a raw * field
        fields = []
        for _ in range(4):
            v = draw(value_st)
            esc = pgpass.escape(v) if v != "*" else draw(st.sampled_from(["*", "\\*"]))
            if draw(st.integers(0, 5)) == 0 and esc and esc[0] not in "\\:*":
                esc = "\\" + esc
            fields.append(esc)
        fields.append(draw(st.sampled_from(["old", "o\\:ld", "x:extra"])))
        return ":".join(fields).encode()
    if kind == 4:
        return b"#" + draw(st.sampled_from([b"", b" h1:5432:db:u1:pw"]))
    if kind == 5:
        return draw(st.sampled_from([b"", b"h1:5432:db", b"h1:5432:db:u1", b"  ", b"\r"]))
    return draw(st.sampled_from([b"*:*:*:*:all", b"h1:*:db:*:some", b"h2:5432:*:u1:w"]))


@st.composite
def pgpass_text_st(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(pgpass_line_st(), max_size=8))
    ends = [draw(st.sampled_from([b"\n", b"\n", b"\r\n"])) for _ in lines]
    out = b"".join(line + end for line, end in zip(lines, ends))
    if out and draw(st.booleans()):
        out = out[: -len(ends[-1])] + draw(st.sampled_from([b"", b"\r"]))
    if draw(st.integers(0, 15)) == 0:
        out += b"h1:5432:db:u1:n\0ul\n"
    return out


def _outcome(fn: object, *args: object) -> tuple[str, object]:
    try:
        return "ok", fn(*args)  # type: ignore[operator]
    except PgiamError as e:
        return type(e).__name__, str(e)


def _sequential(data: bytes, items: list[tuple[Key, str]]) -> bytes:
    for key, password in items:
        data = pgpass.upsert(data, key, password)
    return data


@SETTINGS
@given(pgpass_text_st(), st.lists(st.tuples(key_st, password_st), max_size=5))
def test_upsert_all_equals_sequential_upserts(data: bytes, items: list[tuple[Key, str]]) -> None:
    assert _outcome(bulk.pgpass_upsert_all, data, items) == _outcome(_sequential, data, items)


@SETTINGS
@given(pgpass_text_st(), st.lists(st.tuples(plain_key_st, st.sampled_from(["pw", "t/?A=1"])), max_size=5))
def test_upsert_all_equals_sequential_for_plain_keys(data: bytes, items: list[tuple[Key, str]]) -> None:
    """The keys pgiam writes (no * fields): the fast path's territory."""
    assert _outcome(bulk.pgpass_upsert_all, data, items) == _outcome(_sequential, data, items)


def test_upsert_all_takes_the_fast_path_for_a_refresh() -> None:
    keys = [Key(f"h{i}", "5432", "db", "u") for i in range(50)]
    data = b"# mine\n" + b"".join(pgpass.format_line(k, "old") for k in keys)
    items = [(k, "new") for k in keys] + [(Key("hz", "5432", "db", "u"), "added")]
    fast = bulk._upsert_fast(data, [(k, pgpass.format_line(k, p)[:-1]) for k, p in items])
    assert fast is not None and fast == _sequential(data, items)
    assert fast.count(b":new\n") == 50 and fast.endswith(b"hz:5432:db:u:added\n")


@SETTINGS
@given(pgpass_text_st(), key_st)
def test_index_find_equals_find(data: bytes, key: Key) -> None:
    if b"\0" in data:
        data = data.replace(b"\0", b"")
    assert bulk.PgpassIndex(data).find(key) == pgpass.find(data, key)


@SETTINGS
@given(pgpass_text_st(), key_st)
def test_index_chosen_equals_libpq_lookup(data: bytes, key: Key) -> None:
    """The line libpq picks for the key's connection, from the index, is the reference lookup's."""
    found = pgpass.lookup(data, *key.fields())
    assert bulk.PgpassIndex(data).chosen(key) == (None if found is None else found[0])


# --------------------------------------------------------------------------- service file

NAMES = ["a", "b", "a.b", "c-1"]


@st.composite
def service_text_st(draw: st.DrawFn) -> bytes:
    out: list[bytes] = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.integers(0, 4))
        if kind == 0:
            out.append(draw(st.sampled_from([b"# c", b"", b"host=x", b"  "])))
            continue
        name = draw(st.sampled_from(NAMES)).encode()
        out.append(draw(st.sampled_from([b"[" + name + b"]", b" [" + name + b"] # x", b"[" + name + b"x]"])))
        if draw(st.booleans()):
            out.append(servicefile.MARKER)
        for line in draw(st.lists(st.sampled_from([b"host=h", b"port=5432", b"# note", b"", b"bad"]),
                                  max_size=3)):
            out.append(line)
    nl = draw(st.sampled_from([b"\n", b"\r\n"]))
    text = b"".join(line + (b"\r\n" if draw(st.integers(0, 9)) == 0 else nl) for line in out)
    if text and draw(st.booleans()):
        text = text.rstrip(b"\r\n")
    return text


@SETTINGS
@given(service_text_st(), st.sampled_from(NAMES))
def test_service_index_equals_servicefile(data: bytes, name: str) -> None:
    index = bulk.ServiceIndex(data)
    assert index.get(name) == servicefile.get(data, name)
    assert index.is_managed(name) == servicefile.is_managed(data, name)


@SETTINGS
@given(service_text_st(), st.sampled_from(NAMES), st.booleans())
def test_skipped_stanzas_are_ones_upsert_leaves_alone(data: bytes, name: str, force: bool) -> None:
    params = [("host", "h"), ("port", "5432")]
    if bulk.ServiceIndex(data).unchanged_by_upsert(name, params, force):
        assert servicefile.upsert(data, name, params, force=force)[0] == data


def test_an_unchanged_stanza_is_recognised() -> None:
    params = [("host", "h"), ("port", "5432")]
    data, _ = servicefile.upsert(b"# top\n", "a", params)
    data, _ = servicefile.upsert(data, "b", params)
    index = bulk.ServiceIndex(data)
    assert index.unchanged_by_upsert("a", params, False)
    assert not index.unchanged_by_upsert("a", [("host", "other")], False)
    assert not index.unchanged_by_upsert("zz", params, False)


@pytest.mark.parametrize("n", [2000])
def test_many_services_are_linear(n: int) -> None:
    """2000 services in one pass: the old per-key loop needed ~n² line parses (minutes); this is one."""
    keys = [Key(f"db{i}.example", "5432", "app", "u") for i in range(n)]
    data = b"".join(pgpass.format_line(k, "old") for k in keys)
    out = bulk.pgpass_upsert_all(data, [(k, "new") for k in keys])
    assert out == data.replace(b":old\n", b":new\n")
    index = bulk.PgpassIndex(out)
    assert all(index.find(k) is not None for k in keys)
