"""pgiam.libpq.pgpass against libpq's rules, including a differential test with an independent reference."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pgiam.errors import PgiamError, UsageError
from pgiam.libpq import pgpass
from pgiam.libpq.pgpass import Key

SETTINGS = settings(max_examples=250, deadline=None)

# --------------------------------------------------------------------------- reference implementation
# An independent statement of libpq's rules (fe-connect.c passwordFromFile), for NUL-free text:
# each field is a regex built from the connection value; `*:` at a field start is the wildcard and
# then nothing else is tried; a value byte c matches `c` or `\c` (a backslash matches only `\\`).


def _field_re(token: bytes) -> bytes:
    parts = []
    for c in token:
        ch = bytes([c])
        parts.append(rb"\\\\" if ch == b"\\" else rb"\\?" + re.escape(ch))
    return rb"(?:\*:|(?!\*:)" + b"".join(parts) + b":)"


def _ref_password(rest: bytes) -> bytes:
    m = re.match(rb"((?:\\.|[^:\\])*)(\\?)", rest, re.DOTALL)
    assert m is not None
    return re.sub(rb"\\(.)", rb"\1", m.group(1), flags=re.DOTALL) + m.group(2)


def ref_lookup(data: bytes, host: str, port: str, dbname: str, user: str) -> tuple[int, str] | None:
    if not dbname or not user:
        return None
    tokens = [(host or "localhost").encode(), (port or "5432").encode(), dbname.encode(), user.encode()]
    rx = re.compile(b"".join(_field_re(t) for t in tokens) + b"(.*)", re.DOTALL)
    pieces = data.split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()
    for idx, piece in enumerate(pieces):
        if piece.startswith(b"#"):
            continue
        piece = piece.rstrip(b"\r")
        if not piece:
            continue
        m = rx.match(piece)
        if m:
            return idx, _ref_password(m.group(1)).decode("utf-8", "surrogateescape")
    return None


def ref_split(content: bytes) -> list[bytes]:
    """Raw (still escaped) fields of a line: split at colons not preceded by an escaping backslash."""
    return re.findall(rb"(?:\\.|[^:\\]|\\$)*", content, re.DOTALL)[::2][:5]


def ref_owned(raw: bytes, key: Key) -> bool:
    content = raw.rstrip(b"\r\n")
    if raw.startswith(b"#") or not content:
        return False
    fields = ref_split(content)
    if len(fields) < 5:
        return False
    for field, want in zip(fields, key.fields()):
        if want == "*":
            if field != b"*":
                return False
        elif field == b"*" or re.sub(rb"\\(.)", rb"\1", field, flags=re.DOTALL) != want.encode():
            return False
    return True


# --------------------------------------------------------------------------- strategies

PIECES = ["a", "b", "*", ":", "\\", " ", "é", "h", "5432", "::1", "x:y"]
token_st = st.lists(st.sampled_from(PIECES), max_size=3).map("".join)
password_st = st.text(alphabet=st.sampled_from(list("ab:\\*/?=&% é\t\u2603")), min_size=1, max_size=12)


def _clean(value: str) -> bool:
    return bool(value) and value == value.strip()


key_field_st = token_st.filter(_clean)
key_st = st.builds(Key, key_field_st, key_field_st, key_field_st, key_field_st)


def _raw_field(draw: st.DrawFn, token: str | None) -> bytes:
    """A field aimed at ``token`` (escaped, unescaped, wildcard, literal star) or a random one."""
    choice = draw(st.sampled_from([0, 0, 0, 0, 1, 1, 2, 2, 3, 4, 5]))
    if token and choice == 0:
        return pgpass.escape(token).encode()
    if token and choice == 1:
        return token.encode()  # unescaped: libpq still compares byte by byte
    if choice == 2:
        return b"*"
    if choice == 3:
        return b"\\*"
    if token and choice == 4:
        return pgpass.escape(token).encode() + draw(st.sampled_from([b"", b"\\", b"a"]))
    return draw(token_st).encode()


@st.composite
def line_st(draw: st.DrawFn, tokens: list[str], nul: bool) -> bytes:
    kind = draw(st.integers(0, 8))
    if kind <= 3 and len(tokens) == 4:  # aimed at the connection, five fields or so
        fields = [_raw_field(draw, t) for t in tokens]
        n = draw(st.sampled_from([3, 4, 5, 5, 5, 5, 6]))
        fields += [pgpass.escape(draw(password_st)).encode(), draw(token_st).encode()]
        return b":".join(fields[:n])
    if kind <= 3:
        n = draw(st.integers(3, 6))
        return b":".join(_raw_field(draw, None) for _ in range(n))
    if kind == 4:
        comment = b"#" + draw(st.binary(max_size=8)).replace(b"\n", b"")
        return comment if nul else comment.replace(b"\0", b"")
    if kind == 5:
        return draw(st.sampled_from([b"", b"\r", b" ", b"\r\r", b"\t"]))
    if kind == 6:
        return b"a:b:c:d:" + b"x\\:" * draw(st.integers(80, 200))  # long: > 318 and > 256
    junk = draw(st.binary(max_size=24)).replace(b"\n", b"")
    return junk if nul else junk.replace(b"\0", b"")


@st.composite
def file_st(draw: st.DrawFn, tokens: list[str] | None = None, nul: bool = False) -> bytes:
    toks = tokens or []
    lines = draw(st.lists(line_st(toks, nul), max_size=8))
    out = b"".join(line + draw(st.sampled_from([b"\n", b"\r\n"])) for line in lines)
    if out and draw(st.booleans()):
        out = out.rstrip(b"\n") if not lines[-1].endswith(b"\r") else out[:-1]
    return out


def _concrete(draw: st.DrawFn, key: Key) -> list[str]:
    return [draw(key_field_st) if v == "*" else v for v in key.fields()]


# --------------------------------------------------------------------------- round trip


@SETTINGS
@given(st.binary(max_size=400))
def test_roundtrip_arbitrary_bytes(data: bytes) -> None:
    assert pgpass.dump(pgpass.parse(data)) == data


@SETTINGS
@given(file_st(nul=True))
def test_roundtrip_structured(data: bytes) -> None:
    lines = pgpass.parse(data)
    assert pgpass.dump(lines) == data
    for line in lines[:-1]:
        assert line.raw.endswith(b"\n") and line.raw.count(b"\n") == 1


def test_parse_fields() -> None:
    lines = pgpass.parse(b"# c\n\r\nh\\:1:*:\\*:u\\\\:p:w:x\r\nh:p:d:u\n")
    assert [line.fields for line in lines] == [
        None,
        None,
        (b"h:1", b"*", b"*", b"u\\", b"p"),
        (b"h", b"p", b"d", b"u"),
    ]
    assert lines[2].wildcards == (False, True, False, False, False)
    assert lines[2].is_entry and not lines[3].is_entry


# --------------------------------------------------------------------------- escaping


@SETTINGS
@given(st.text(alphabet=st.sampled_from(list(":\\* aé\u2603\U0001f600")), max_size=20))
def test_escape_roundtrip(value: str) -> None:
    escaped = pgpass.escape(value)
    assert pgpass.unescape(escaped) == value
    assert escaped.replace("\\\\", "").replace("\\:", "").count(":") == 0
    assert set(escaped) <= set(value) | {"\\"}


@SETTINGS
@given(key_st, password_st)
def test_format_line_reads_back(key: Key, password: str) -> None:
    raw = pgpass.format_line(key, password)
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    (line,) = pgpass.parse(raw)
    assert line.fields == tuple(v.encode() for v in (*key.fields(), password))
    assert line.wildcards[:4] == tuple(v == "*" for v in key.fields())
    assert ref_owned(raw, key)


def test_format_line_example() -> None:
    token = "db.example:5432/?Action=connect&X-Amz-Signature=ab\\c"
    raw = pgpass.format_line(Key("db.example", "5432", "*", "iam_user"), token)
    assert raw == b"db.example:5432:*:iam_user:db.example\\:5432/?Action=connect&X-Amz-Signature=ab\\\\c\n"
    assert pgpass.lookup(raw, "db.example", "5432", "anydb", "iam_user") == (0, token)


@pytest.mark.parametrize(
    ("key", "password", "field"),
    [
        (Key("h\n", "5432", "d", "u"), "pw", "host"),
        (Key("h", "54\r32", "d", "u"), "pw", "port"),
        (Key("h", "5432", "d\0", "u"), "pw", "dbname"),
        (Key("h", "5432", "d", " u"), "pw", "user"),
        (Key("h ", "5432", "d", "u"), "pw", "host"),
        (Key("", "5432", "d", "u"), "pw", "host"),
        (Key("h", "", "d", "u"), "pw", "port"),
        (Key("h", "5432", "d", "u"), "SECRET\nTOKEN", "password"),
        (Key("h", "5432", "d", "u"), "", "password"),
    ],
)
def test_format_line_rejects(key: Key, password: str, field: str) -> None:
    with pytest.raises(UsageError) as info:
        pgpass.format_line(key, password)
    assert f"pgpass {field} " in str(info.value)
    assert "SECRET" not in str(info.value) and "\n" not in str(info.value)
    assert info.value.exit_code == 2
    with pytest.raises(UsageError):
        pgpass.upsert(b"x:y:z:w:v\n", key, password)


# --------------------------------------------------------------------------- lookup: differential


@st.composite
def lookup_case(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    nonempty = token_st.filter(bool)
    tokens = [draw(st.one_of(nonempty, nonempty, nonempty, token_st)) for _ in range(4)]
    aimed = [tokens[0] or "localhost", tokens[1] or "5432", tokens[2], tokens[3]]
    data = draw(file_st(aimed))
    return data, tokens


@SETTINGS
@given(lookup_case())
def test_lookup_matches_reference(case: tuple[bytes, list[str]]) -> None:
    data, (host, port, dbname, user) = case
    assert pgpass.lookup(data, host, port, dbname, user) == ref_lookup(data, host, port, dbname, user)


@pytest.mark.parametrize(
    ("data", "conn", "expected"),
    [
        (b"h:5432:db:u:pw\n", ("h", "5432", "db", "u"), (0, "pw")),
        (b"H:5432:db:u:pw\n", ("h", "5432", "db", "u"), None),  # case-sensitive
        (b"h:5432:db:u\n", ("h", "5432", "db", "u"), None),  # 4 fields never match
        (b"h:5432:db:u:\n", ("h", "5432", "db", "u"), (0, "")),
        (b"#h:5432:db:u:pw\n", ("h", "5432", "db", "u"), None),  # comment
        (b" #h:5432:db:u:pw\n", (" #h", "5432", "db", "u"), (0, "pw")),  # not a comment
        (b"\n\r\nh:5432:db:u:pw\r\r\n", ("h", "5432", "db", "u"), (2, "pw")),
        (b"h:5432:db:u:pw", ("h", "5432", "db", "u"), (0, "pw")),  # no final newline
        (b"*:*:*:*:any\nh:5432:db:u:pw\n", ("h", "5432", "db", "u"), (0, "any")),
        (b"\\*:5432:db:u:lit\n", ("h", "5432", "db", "u"), None),  # \* is a literal star
        (b"\\*:5432:db:u:lit\n", ("*", "5432", "db", "u"), (0, "lit")),
        (b"localhost:5432:db:u:pw\n", ("", "", "db", "u"), (0, "pw")),  # defaults
        (b"h:5432:db:u:pw\n", ("h", "5432", "", "u"), None),  # no dbname: file not read
        (b"::1:5432:db:u:pw\n", ("::1", "5432", "db", "u"), (0, "pw")),  # unescaped colons match
        (b"\\:\\:1:5432:db:u:pw\n", ("::1", "5432", "db", "u"), (0, "pw")),
        (b"h:5432:db:u:p\\:w\\\\x:ignored\n", ("h", "5432", "db", "u"), (0, "p:w\\x")),
        (b"h:5432:db:u:pw\\", ("h", "5432", "db", "u"), (0, "pw\\")),
        (b"h\\:5432:db:u:pw\n", ("h", "5432", "db", "u"), None),
        (b"h:5432:db:u:\xff\xfe\n", ("h", "5432", "db", "u"), (0, "\udcff\udcfe")),
    ],
)
def test_lookup_examples(data: bytes, conn: tuple[str, str, str, str], expected: object) -> None:
    assert pgpass.lookup(data, *conn) == expected
    assert ref_lookup(data, *conn) == expected


def test_lookup_nul_glues_next_line() -> None:
    # fgets+strlen: the bytes after a NUL and the newline are lost; the next line is appended.
    assert pgpass.lookup(b"\0junk\nh:5432:d:u:pw\n", "h", "5432", "d", "u") == (0, "pw")
    assert pgpass.lookup(b"x\0junk\nh:5432:d:u:pw\n", "h", "5432", "d", "u") is None
    # A NUL on the last line, which ends in a newline: that buffered record is never processed.
    assert pgpass.lookup(b"h:5432:d:u:pw\0x\n", "h", "5432", "d", "u") is None
    assert pgpass.lookup(b"h:5432:d:u:pw\0x", "h", "5432", "d", "u") == (0, "pw")


def test_lookup_nul_follows_fgets_chunks() -> None:
    head = b"h:5432:d:u:" + b"p" * 100  # 111 bytes, NUL at offset 111
    line = head + b"\0" + b"q" * 300 + b"\n"
    # chunk 1 = 255 bytes (lost after the NUL), chunk 2 = 144 bytes, chunk 3 = the rest of the line
    assert pgpass.lookup(line, "h", "5432", "d", "u") == (0, "p" * 100 + "q" * 157)
    glued = b"h:5432:d:u:" + b"p" * 400 + b"\0zzz\nnext\n"
    assert pgpass.lookup(glued, "h", "5432", "d", "u") == (0, "p" * 400 + "next")


def test_lookup_long_line() -> None:
    token = "t" * 5000
    data = b"#" * 900 + b"\n" + pgpass.format_line(Key("h", "5432", "d", "u"), token)
    assert pgpass.lookup(data, "h", "5432", "d", "u") == (1, token)


# --------------------------------------------------------------------------- upsert / remove


def _foreign(data: bytes, key: Key) -> list[bytes]:
    return [line.raw for line in pgpass.parse(data) if not ref_owned(line.raw, key)]


@st.composite
def upsert_case(draw: st.DrawFn) -> tuple[bytes, Key, str, list[str]]:
    key = draw(key_st)
    conn = _concrete(draw, key)
    data = draw(file_st(conn))
    if draw(st.booleans()):  # sometimes already own a line (maybe twice, maybe late)
        lines = pgpass.parse(data)
        at = draw(st.integers(0, len(lines)))
        own = pgpass.format_line(key, draw(password_st))
        raws = [line.raw for line in lines]
        if raws and not raws[-1].endswith(b"\n"):
            raws[-1] += b"\n"
        raws[at:at] = [own] * draw(st.integers(1, 2))
        data = b"".join(raws)
    return data, key, draw(password_st), conn


@SETTINGS
@given(upsert_case())
def test_upsert_wins_and_keeps_foreign_lines(case: tuple[bytes, Key, str, list[str]]) -> None:
    data, key, password, conn = case
    new = pgpass.upsert(data, key, password)
    found = pgpass.find(new, key)
    assert found is not None and found[1] == password
    # libpq (and the reference) pick our line for the key's connection, whatever sits before it
    assert pgpass.lookup(new, *conn) == found
    assert ref_lookup(new, *conn) == found
    assert pgpass.lookup(new, *key.fields()) == found
    # exactly one owned line; every foreign line byte-identical and in order
    assert sum(ref_owned(line.raw, key) for line in pgpass.parse(new)) == 1
    before, after = _foreign(data, key), _foreign(new, key)
    assert after[:-1] == before[:-1]
    if before:
        assert after[-1] in (before[-1], before[-1] + b"\n", before[-1] + b"\r\n")
    # idempotent
    assert pgpass.upsert(new, key, password) == new
    # remove drops exactly the owned line(s)
    assert _foreign(pgpass.remove(new, key), key) == after
    assert pgpass.find(pgpass.remove(new, key), key) is None


@SETTINGS
@given(file_st(["h", "5432", "db", "u"]), password_st)
def test_remove_upsert_restores(data: bytes, password: str) -> None:
    key = Key("h", "5432", "db", "u")
    assume(pgpass.find(data, key) is None)
    assume(data == b"" or data.endswith(b"\n"))
    assert pgpass.remove(pgpass.upsert(data, key, password), key) == data


@SETTINGS
@given(file_st(["h", "5432", "db", "u"]), key_st)
def test_remove_touches_nothing_else(data: bytes, key: Key) -> None:
    out = pgpass.remove(data, key)
    assert out == b"".join(line.raw for line in pgpass.parse(data) if not ref_owned(line.raw, key))
    assert pgpass.find(out, key) is None


KEY = Key("h", "5432", "db", "u")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", b"h:5432:db:u:NEW\n"),
        (b"a:b:c:d:e\n", b"a:b:c:d:e\nh:5432:db:u:NEW\n"),
        (b"a:b:c:d:e", b"a:b:c:d:e\nh:5432:db:u:NEW\n"),  # missing newline added
        (b"a:b:c:d:e\r\n", b"a:b:c:d:e\r\nh:5432:db:u:NEW\r\n"),  # CRLF kept
        (b"a:b:c:d:e\r\nx", b"a:b:c:d:e\r\nx\r\nh:5432:db:u:NEW\r\n"),
        (b"# c\nh:5432:db:u:OLD\nz:z:z:z:z\n", b"# c\nh:5432:db:u:NEW\nz:z:z:z:z\n"),  # in place
        (b"h:5432:db:u:OLD\r\n", b"h:5432:db:u:NEW\r\n"),
        (b"x\nh:5432:db:u:OLD", b"x\nh:5432:db:u:NEW"),  # in place keeps the (missing) ending
        (b"*:*:*:*:any\n", b"h:5432:db:u:NEW\n*:*:*:*:any\n"),  # before a wildcard
        (
            b"a:b:c:d:e\n*:5432:*:u:any\nh:5432:db:u:OLD\n",
            b"a:b:c:d:e\nh:5432:db:u:NEW\n*:5432:*:u:any\n",
        ),
        (b"h:5432:db:u:1\nx:x:x:x:x\nh:5432:db:u:2\n", b"h:5432:db:u:NEW\nx:x:x:x:x\n"),  # dupes
        (b"h:5432:db:u\n", b"h:5432:db:u\nh:5432:db:u:NEW\n"),  # 4-field line is not ours
        (b"\\h:5432:db:u:OLD\n", b"h:5432:db:u:NEW\n"),  # \h unescapes to h: literally equal
        (b"h:5432:*:u:OLD\n", b"h:5432:db:u:NEW\nh:5432:*:u:OLD\n"),
    ],
)
def test_upsert_examples(data: bytes, expected: bytes) -> None:
    assert pgpass.upsert(data, KEY, "NEW") == expected
    assert pgpass.lookup(expected, "h", "5432", "db", "u") == pgpass.find(expected, KEY)


def test_upsert_wildcard_key_goes_before_any_overlap() -> None:
    key = Key("h", "5432", "*", "u")
    data = b"h:5432:app:u:app-pw\nh:5432:*:u:OLD\n"
    assert pgpass.upsert(data, key, "NEW") == b"h:5432:*:u:NEW\nh:5432:app:u:app-pw\n"
    # an unescaped colon can swallow the next field: user "b:u" for database "a" matches this line
    data = b"h:5432:a:b:u:pw\n"
    assert pgpass.lookup(data, "h", "5432", "a:b", "u") == (0, "pw")
    assert pgpass.upsert(data, key, "NEW").startswith(b"h:5432:*:u:NEW\n")
    # a wildcard key field equals only an unescaped *, not a literal \*
    assert pgpass.find(b"h:5432:\\*:u:lit\n", key) is None
    assert pgpass.find(b"h:5432:*:u:w\n", key) == (0, "w")
    # a leading `*:` is the wildcard and nothing else: `*:a` cannot be read as host "*:a"
    any_host = Key("*", "5432", "db", "u")
    data = b"*:a:5432:db:u:x\n"
    assert pgpass.upsert(data, any_host, "NEW") == data + b"*:5432:db:u:NEW\n"


def test_upsert_ipv6_host() -> None:
    key = Key("::1", "5432", "db", "u")
    data = b"::1:5432:db:u:foreign\n"  # unescaped, still matches ::1 in libpq
    new = pgpass.upsert(data, key, "NEW")
    assert new == b"\\:\\:1:5432:db:u:NEW\n::1:5432:db:u:foreign\n"
    assert pgpass.lookup(new, "::1", "5432", "db", "u") == (0, "NEW")


def test_upsert_refuses_nul() -> None:
    with pytest.raises(PgiamError) as info:
        pgpass.upsert(b"a:b:c:d:e\nx\0y\n", KEY, "SECRET")
    assert "line 2" in str(info.value) and "SECRET" not in str(info.value)
    assert isinstance(info.value, pgpass.MalformedPgpassError)


def test_remove_examples() -> None:
    data = b"# keep\r\nh:5432:db:u:1\r\n*:*:*:*:x\nh:5432:db:u:2"
    assert pgpass.remove(data, KEY) == b"# keep\r\n*:*:*:*:x\n"
    assert pgpass.remove(b"a:b:c:d:e", KEY) == b"a:b:c:d:e"


# --------------------------------------------------------------------------- problems


def test_problems() -> None:
    long_line = pgpass.format_line(KEY, "S" * 400)
    data = b"# ok\n\nh:5432:db:SECRETPW\n" + long_line + b"x\0SECRET\n" + b"h:5432:db:u:" + b"S" * 307
    notes = pgpass.problems(data)
    assert len(notes) == 5, notes
    assert notes[0].startswith("line 3 ") and "4 field" in notes[0]
    assert notes[1].startswith("line 4 ") and "412 bytes" in notes[1]
    assert notes[2].startswith("line 5 ") and "NUL" in notes[2]
    assert notes[3].startswith("line 5 ") and "1 field" in notes[3]
    assert notes[4].startswith("line 6 ") and "319 bytes" in notes[4]
    assert all("SECRET" not in n and "\n" not in n for n in notes)


def test_problems_length_limit_is_318() -> None:
    ok = b"h:5432:db:u:" + b"p" * (318 - 12)
    assert pgpass.problems(ok + b"\n") == []
    assert pgpass.problems(ok + b"\r\n") != []  # the CR counts towards old libpq's 319-byte pieces
    assert pgpass.problems(b"") == []


@given(st.binary(max_size=40).map(lambda b: b.replace(b"\\", b"").replace(b"\n", b"")),
       st.sampled_from([b"", b":", b"::::", b"*:", b":*"]))
def test_lines_without_escapes_split_as_the_escape_aware_splitter_does(body: bytes, extra: bytes) -> None:
    """The shortcut for lines without a backslash gives the general splitter's fields and wildcards."""
    content = extra + body + extra
    assert pgpass._split_fields(content) == pgpass._split_escaped(content)
