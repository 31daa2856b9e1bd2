"""pgiam.libpq.servicefile: round trip, libpq's reading of stanzas, and safe editing."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pgiam.errors import PgiamError, UsageError
from pgiam.libpq import servicefile as sf

SETTINGS = settings(max_examples=250, deadline=None)
NAME = "prod"
PARAMS = [("host", "db.example.com"), ("port", "5432"), ("dbname", "app"), ("user", "iam_user")]

# --------------------------------------------------------------------------- reference reader
# libpq's parseServiceFile restated: strip (C isspace) both ends, skip blank and `#` lines, a `[`
# line is a header that selects the group when it starts with `[name]`, stop at the next header.


def ref_get(data: bytes, name: str) -> list[tuple[str, str]] | None:
    found = False
    pairs: list[tuple[str, str]] = []
    for raw in data.split(b"\n"):
        line = raw.strip(b" \t\r\n\v\f")
        if not line or line.startswith(b"#"):
            continue
        if line.startswith(b"["):
            if found:
                break
            found = line.startswith(b"[" + name.encode() + b"]")
        elif found and b"=" in line:
            key, value = line.split(b"=", 1)
            pairs.append((key.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape")))
    return pairs if found else None


def core_span(lines: list[bytes], name: str) -> tuple[int, int] | None:
    """(header index, last owned index) of the first [name] stanza, by the rules in the brief."""
    header = b"[" + name.encode() + b"]"
    for i, raw in enumerate(lines):
        if raw.strip().startswith(header):
            last = i
            for j in range(i + 1, len(lines)):
                s = lines[j].strip()
                if s.startswith(b"["):
                    break
                if s and (not s.startswith(b"#") or s.startswith(b"# managed by pgiam")):
                    last = j
            return i, last
    return None


def split(data: bytes) -> list[bytes]:
    parts = data.split(b"\n")
    return [p + b"\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


# --------------------------------------------------------------------------- strategies

HEADERS = [b"[prod]", b"  [prod]  ", b"[prod] trailing", b"[Prod]", b"[prod2]", b"[dev]", b"[prod", b"[]"]
DATA_LINES = [b"host=a", b"port=5432", b"  user=x  ", b"key = value", b"junk", b"service=other", b"=v"]


@st.composite
def line_st(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 8))
    if kind <= 1:
        return draw(st.sampled_from(HEADERS))
    if kind == 2:
        return draw(st.sampled_from([sf.MARKER, b"  " + sf.MARKER_PREFIX]))
    if kind == 3:
        return b"#" + draw(st.binary(max_size=10)).replace(b"\n", b"")
    if kind == 4:
        return draw(st.sampled_from([b"", b" ", b"\r", b"\t"]))
    if kind == 5:
        return draw(st.sampled_from([b"sslmode=x" * 30, b"a=" + b"v" * 1030]))  # > 253, > 1021
    if kind == 6:
        return draw(st.binary(max_size=16)).replace(b"\n", b"")
    return draw(st.sampled_from(DATA_LINES)) + draw(st.sampled_from([b"", b"\xff", "é".encode()]))


@st.composite
def file_st(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(line_st(), max_size=10))
    out = b"".join(line + draw(st.sampled_from([b"\n", b"\r\n"])) for line in lines)
    if out and draw(st.booleans()):
        out = out[:-1]
    return out


value_st = st.text(alphabet=st.sampled_from(list("ab=:#[] é/\\*\u2603")), max_size=12).filter(
    lambda v: v == v.strip()
)
key_st = st.sampled_from(["host", "port", "dbname", "user", "sslmode", "passfile", "options", "a_b"])
params_st = st.lists(st.tuples(key_st, value_st), max_size=5, unique_by=lambda kv: kv[0])

# --------------------------------------------------------------------------- round trip


@SETTINGS
@given(st.binary(max_size=400))
def test_roundtrip_arbitrary_bytes(data: bytes) -> None:
    assert sf.dump(sf.parse(data)) == data


@SETTINGS
@given(file_st())
def test_roundtrip_structured(data: bytes) -> None:
    parsed = sf.parse(data)
    assert sf.dump(parsed) == data
    for section in parsed.sections:
        assert section.header.strip().startswith(b"[")
        assert not any(raw.strip().startswith(b"[") for raw in section.body)


def test_parse_structure() -> None:
    parsed = sf.parse(b"# top\n[a]\nk=v\n\n  [b] x\r\n#c\n[c")
    assert parsed.preamble == (b"# top\n",)
    assert [(s.name, s.lineno, s.body) for s in parsed.sections] == [
        (b"a", 2, (b"k=v\n", b"\n")),
        (b"b", 5, (b"#c\n",)),
        (None, 7, ()),
    ]


# --------------------------------------------------------------------------- get


@SETTINGS
@given(file_st(), st.sampled_from(["prod", "Prod", "dev", "prod2", ""]))
def test_get_matches_reference(data: bytes, name: str) -> None:
    assert sf.get(data, name) == ref_get(data, name)


def test_get_libpq_rules() -> None:
    data = (
        b"[Prod]\nhost=upper\n"
        b"  [prod] anything after the bracket\n"
        b"# comment\n\n  host=a  \r\n"
        b"options=-c x=1\n"
        b"user= spaced\n"
        b"key = value\n"
        b"[prod]\nhost=second\n"
    )
    assert sf.get(data, "prod") == [
        ("host", "a"),
        ("options", "-c x=1"),
        ("user", " spaced"),
        ("key ", " value"),
    ]
    assert sf.get(data, "Prod") == [("host", "upper")]
    assert sf.get(data, "pro") is None
    assert sf.is_managed(data, "prod") is False
    assert sf.is_managed(data, "nope") is None


# --------------------------------------------------------------------------- upsert / remove


@SETTINGS
@given(file_st(), params_st)
def test_remove_upsert_restores(data: bytes, params: list[tuple[str, str]]) -> None:
    assume(sf.get(data, NAME) is None)
    assume(data == b"" or data.endswith(b"\n"))
    new, _ = sf.upsert(data, NAME, params)
    assert sf.get(new, NAME) == params
    assert sf.is_managed(new, NAME) is True
    assert sf.remove(new, NAME) == data
    assert new.startswith(data)


@SETTINGS
@given(file_st(), params_st, st.booleans())
def test_upsert_properties(data: bytes, params: list[tuple[str, str]], force: bool) -> None:
    if sf.is_managed(data, NAME) is False and not force:
        with pytest.raises(PgiamError) as info:
            sf.upsert(data, NAME, params)
        assert info.value.exit_code == 2 and "--force" in str(info.value)
        return
    new, warnings = sf.upsert(data, NAME, params, force=force)
    assert sf.get(new, NAME) == params
    assert sf.is_managed(new, NAME) is True
    assert sf.dump(sf.parse(new)) == new
    before, after = split(data), split(new)
    span = core_span(before, NAME)
    if span is None:  # appended: everything before is kept (the last line may gain its newline)
        if before:
            assert after[: len(before) - 1] == before[:-1]
            assert after[len(before) - 1].rstrip(b"\r\n") == before[-1].rstrip(b"\r\n")
    else:  # lines before the header and after the stanza's last owned line are byte-identical
        start, last = span
        assert after[:start] == before[:start]
        rest = before[last + 1 :]
        assert after[len(after) - len(rest) :] == rest
    # idempotent, and later duplicates are reported
    again, again_warnings = sf.upsert(new, NAME, params)
    assert again == new and again_warnings == warnings
    dupes = sum(1 for raw in after if raw.strip().startswith(b"[prod]")) - 1
    assert sum("another [prod] stanza" in w for w in warnings) == dupes


@SETTINGS
@given(file_st(), st.sampled_from(["prod", "dev", "Prod"]))
def test_remove_only_touches_first_owned_stanza(data: bytes, name: str) -> None:
    before = split(data)
    span = core_span(before, name)
    managed = sf.is_managed(data, name)
    if managed is None:
        assert sf.remove(data, name) == data
        return
    if not managed:
        with pytest.raises(PgiamError):
            sf.remove(data, name)
    after = split(sf.remove(data, name, force=True))
    assert span is not None
    start, last = span
    rest = before[last + 1 :]
    assert after[len(after) - len(rest) :] == rest
    assert after[: len(after) - len(rest)] in (before[:start], before[: start - 1])


def test_upsert_append_examples() -> None:
    assert sf.upsert(b"", NAME, [("host", "h")]) == (b"[prod]\n" + sf.MARKER + b"\nhost=h\n", [])
    new, _ = sf.upsert(b"[a]\nk=v", NAME, [("host", "h")])
    assert new == b"[a]\nk=v\n\n[prod]\n" + sf.MARKER + b"\nhost=h\n"
    new, _ = sf.upsert(b"[a]\r\nk=v\r\n", NAME, [("host", "h")])
    assert new == b"[a]\r\nk=v\r\n\r\n[prod]\r\n" + sf.MARKER + b"\r\nhost=h\r\n"


def test_upsert_replaces_owned_lines_only() -> None:
    data = (
        b"# top\n[a]\nhost=a\n\n"
        b"[prod]\n" + sf.MARKER + b"\nhost=old\n# why we use this db\nport=1\n\n# about [b]\n[b]\nhost=b\n"
    )
    new, warnings = sf.upsert(data, NAME, [("host", "new"), ("sslmode", "verify-full")])
    assert warnings == []
    assert new == (
        b"# top\n[a]\nhost=a\n\n"
        b"[prod]\n" + sf.MARKER + b"\n# why we use this db\nhost=new\nsslmode=verify-full\n"
        b"\n# about [b]\n[b]\nhost=b\n"
    )
    removed = sf.remove(new, NAME)
    assert removed == b"# top\n[a]\nhost=a\n\n# about [b]\n[b]\nhost=b\n"


def test_foreign_stanza_refused_then_forced() -> None:
    data = b"[prod]\nhost=theirs\n"
    with pytest.raises(sf.ForeignStanzaError) as info:
        sf.upsert(data, NAME, PARAMS)
    assert "[prod]" in str(info.value) and "--force" in str(info.value) and info.value.exit_code == 2
    with pytest.raises(sf.ForeignStanzaError):
        sf.remove(data, NAME)
    new, _ = sf.upsert(data, NAME, PARAMS, force=True)
    assert sf.get(new, NAME) == PARAMS and sf.is_managed(new, NAME)
    assert sf.remove(data, NAME, force=True) == b""


def test_duplicates_reported_and_left_alone() -> None:
    data = b"[prod]\n" + sf.MARKER + b"\nhost=a\n\n[prod]\nhost=b\n"
    new, warnings = sf.upsert(data, NAME, [("host", "c")])
    assert new.endswith(b"\n\n[prod]\nhost=b\n")
    assert len(warnings) == 1 and "line 5" in warnings[0]
    assert sf.get(new, NAME) == [("host", "c")]


@pytest.mark.parametrize(
    ("name", "params", "needle"),
    [
        ("pr od", [], "service name"),
        ("prod]", [], "service name"),
        ("", [], "service name"),
        (NAME, [("Host", "h")], "'Host'"),
        (NAME, [("host ", "h")], "'host '"),
        (NAME, [("service", "x")], "service="),
        (NAME, [("servicefile", "x")], "servicefile="),
        (NAME, [("password", "SECRET")], "password="),
        (NAME, [("host", "a"), ("host", "b")], "twice"),
        (NAME, [("host", "a\nb")], "host"),
        (NAME, [("host", "a\rb")], "host"),
        (NAME, [("host", "a\0b")], "host"),
        (NAME, [("host", " a")], "whitespace"),
        (NAME, [("host", "a\t")], "whitespace"),
        (NAME, [("options", "x" * 1014)], "1022 bytes"),
    ],
)
def test_upsert_rejects(name: str, params: list[tuple[str, str]], needle: str) -> None:
    with pytest.raises(UsageError) as info:
        sf.upsert(b"", name, params)
    assert needle in str(info.value), str(info.value)
    assert "SECRET" not in str(info.value) and "\n" not in str(info.value)


def test_line_length_limits() -> None:
    ok, warnings = sf.upsert(b"", NAME, [("options", "x" * 1013)])  # "options=" + 1013 = 1021
    assert sf.get(ok, NAME) == [("options", "x" * 1013)]
    assert len(warnings) == 1 and "1021 bytes" in warnings[0] and "253" in warnings[0]
    _, warnings = sf.upsert(b"", NAME, [("options", "x" * 245)])  # 253 bytes: fine everywhere
    assert warnings == []
    _, warnings = sf.upsert(b"", NAME, [("options", "x" * 246)])
    assert len(warnings) == 1
    # in a CRLF file the CR counts towards libpq's buffer
    with pytest.raises(UsageError):
        sf.upsert(b"[a]\r\n", NAME, [("options", "x" * 1013)])


def test_remove_examples() -> None:
    mid = b"[a]\nk=v\n\n[prod]\n" + sf.MARKER + b"\nhost=h\n\n[b]\nk=v\n"
    assert sf.remove(mid, NAME) == b"[a]\nk=v\n\n[b]\nk=v\n"
    glued = b"[a]\nk=v\n\n[prod]\n" + sf.MARKER + b"\nhost=h\n[b]\nk=v\n"
    assert sf.remove(glued, NAME) == b"[a]\nk=v\n\n[b]\nk=v\n"
    assert sf.remove(b"[a]\n", NAME) == b"[a]\n"
    with pytest.raises(UsageError):
        sf.remove(b"", "bad name")


# --------------------------------------------------------------------------- problems


def test_problems() -> None:
    data = (
        b"stray=1\n"  # 1
        b"[prod]\n"  # 2
        b"host = a\n"  # 3
        b"junk\n"  # 4
        b"service=x\n"  # 5
        b"# fine\n\n"  # 6, 7
        b"user= x\n"  # 8
        b"[prod]\n"  # 9
        b"options=" + b"x" * 250 + b"\n"  # 10: 258 bytes
        b"options=" + b"x" * 1014 + b"\n"  # 11: 1022 bytes
        b"[unclosed\n"  # 12
        b"=v\n"  # 13
    )
    notes = sf.problems(data)
    expected = [
        ("line 1 ", "outside"),
        ("line 3:", "spaces"),
        ("line 4 ", "syntax"),
        ("line 5:", "service="),
        ("line 8:", "whitespace"),
        ("line 9:", "repeats the stanza at line 2"),
        ("line 10 ", "253"),
        ("line 11 ", "1021"),
        ("line 12:", "']'"),
        ("line 13:", "without a key"),
    ]
    assert len(notes) == len(expected), notes
    for note, (start, needle) in zip(notes, expected):
        assert note.startswith(start) and needle in note, note
    assert sf.problems(b"[prod]\n" + sf.MARKER + b"\nhost=a\n") == []


def test_problems_exact_length_thresholds() -> None:
    line = b"options=" + b"x" * 1013  # 1021 bytes: libpq 14 reads it
    assert not any("libpq 14" in n for n in sf.problems(b"[a]\n" + line + b"\n"))
    assert any("libpq 14" in n for n in sf.problems(b"[a]\n" + line + b"x\n"))
    assert any("libpq 14" in n for n in sf.problems(b"[a]\n" + line + b"\r\n"))


@given(file_st())
def test_section_spans_is_section_span_for_every_name(data: bytes) -> None:
    """The one-pass index answers as the per-name function does, for every name a header could carry."""
    spans = sf.section_spans(data)
    for name in ["prod", "Prod", "prod2", "dev", "", "pro", "prod]", *spans]:
        if "]" in name:
            assert name not in spans
            continue
        assert spans.get(name) == sf.section_span(data, name), name


@given(file_st(), st.sampled_from(["prod", "Prod", "prod2", "dev", "", "pro", "prod]"]))
def test_lookup_is_get_and_is_managed(data: bytes, name: str) -> None:
    assert sf.lookup(data, name) == (sf.get(data, name), sf.is_managed(data, name))
