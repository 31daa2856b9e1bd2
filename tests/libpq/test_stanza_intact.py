"""servicefile.stanza_intact is a sufficient test for "upsert leaves the text unchanged" (the batch
refresh skips rewriting a stanza on it): whenever it says True, upsert agrees."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pgiam.libpq import servicefile

PARAMS = [("host", "db.example.com"), ("port", "5432"), ("user", "u")]
LINES = st.sampled_from([
    b"\n", b"# a comment\n", b"  \n", b"host=other\n", b"[other]\n", b"# pgiam: managed\n",
    b"\r\n", b"sslmode=verify-full\n", b"#\n", b"[x]\n", b"user=u\n",
])


@settings(max_examples=400, deadline=None)
@given(st.lists(LINES, max_size=4), st.lists(LINES, max_size=4), st.booleans())
def test_intact_implies_upsert_is_identity(before: list[bytes], tail: list[bytes], crlf: bool) -> None:
    base, _ = servicefile.upsert(b"", "svc", PARAMS)
    if crlf:
        base = base.replace(b"\n", b"\r\n")
    for text in (base + b"".join(tail), b"".join(before) + base + b"".join(tail)):
        if servicefile.stanza_intact(text, "svc", PARAMS):
            assert servicefile.upsert(text, "svc", PARAMS)[0] == text


def test_intact_says_true_for_a_plain_stanza_and_false_otherwise() -> None:
    text, _ = servicefile.upsert(b"", "svc", PARAMS)
    assert servicefile.stanza_intact(text + b"\n# next\n", "svc", PARAMS)
    assert not servicefile.stanza_intact(text + b"extra=1\n", "svc", PARAMS)
    assert not servicefile.stanza_intact(text, "svc", [*PARAMS, ("dbname", "d")])
    assert not servicefile.stanza_intact(b"", "svc", PARAMS)
