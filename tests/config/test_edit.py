"""configedit: one [services.NAME] table set or removed, every other byte kept; unusual layouts refused."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgiam.config.edit import find_span, remove_service, set_service, toml_value
from pgiam.config.model import parse_toml
from pgiam.errors import ConfigError

P = Path("/cfg/config.toml")
HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"
NEW = {"host": HOST, "user": "alice", "port": 5433, "jdbc": True, "libpq": {"application_name": "x y"}}

TYPICAL = {
    "empty": "",
    "comment_only": "# my pgiam config\n",
    "defaults": '# header\n\n[defaults]\nprofile = "team"  # trailing comment\n',
    "services": (
        "# pgiam\n[defaults]\nregion = \"us-west-2\"\n\n"
        f'[services.a]\nhost = "{HOST}"\nuser = "a"\n\n# about b\n[services.b]\nhost = "{HOST}"\nuser = "b"\n'
        'libpq = { application_name = "b" }\n'
    ),
    "crlf": f'# crlf file\r\n[defaults]\r\nprofile = "p"\r\n\r\n[services.a]\r\nhost = "{HOST}"\r\nuser = "a"\r\n',
    "trailing_comment": f'[services.a]\nhost = "{HOST}"\nuser = "a"\n\n# the end\n',
    "subtable": f'[services.a]\nhost = "{HOST}"\nuser = "a"\n\n[services.a.libpq]\napplication_name = "z"\n',
}


def parsed(text: str) -> dict[str, Any]:
    return parse_toml(text.encode(), P) if text.strip() else {}


@pytest.mark.parametrize("text", TYPICAL.values(), ids=TYPICAL.keys())
def test_remove_of_set_is_identity(text: str) -> None:
    added = set_service(text, "new", NEW, P)
    assert parsed(added)["services"]["new"] == NEW
    assert added.startswith(text)  # nothing before it moved
    assert remove_service(added, "new", P) == text


@pytest.mark.parametrize("text", TYPICAL.values(), ids=TYPICAL.keys())
def test_set_keeps_everything_else(text: str) -> None:
    before = parsed(text)
    after = parsed(set_service(text, "new", NEW, P))
    assert after.pop("services")["new"] == NEW
    before.pop("services", None)
    after.pop("services", None)
    assert after == before


def test_replace_keeps_every_other_byte_and_comments() -> None:
    text = TYPICAL["services"]
    out = set_service(text, "a", {"host": HOST, "user": "zed"}, P)
    head, tail = text.split("[services.a]", 1)
    assert out.startswith(head + "[services.a]\n")
    assert out.endswith("\n\n# about b\n" + tail.split("# about b\n", 1)[1])
    assert parsed(out)["services"]["a"] == {"host": HOST, "user": "zed"}
    assert parsed(out)["services"]["b"] == parsed(text)["services"]["b"]
    assert "# pgiam\n" in out and "# about b\n" in out


def test_replace_takes_the_sub_tables_with_it() -> None:
    out = set_service(TYPICAL["subtable"], "a", {"host": HOST, "user": "a"}, P)
    assert out == f'[services.a]\nhost = "{HOST}"\nuser = "a"\n'


def test_crlf_file_stays_crlf() -> None:
    out = set_service(TYPICAL["crlf"], "b", {"host": HOST, "user": "b"}, P)
    assert out.startswith(TYPICAL["crlf"])
    assert "\n" not in out.replace("\r\n", "")
    out = set_service(TYPICAL["crlf"], "a", {"host": HOST, "user": "z"}, P)
    assert out == TYPICAL["crlf"].replace('user = "a"', 'user = "z"')


def test_remove_removes_only_that_table() -> None:
    text = TYPICAL["services"]
    out = remove_service(text, "a", P)
    assert out == text.replace(f'[services.a]\nhost = "{HOST}"\nuser = "a"\n\n', "")
    out = remove_service(text, "b", P)
    assert out == text.split("[services.b]")[0]  # its comment "# about b" stays with what precedes


def test_no_final_newline_gets_one() -> None:
    out = set_service('[defaults]\nprofile = "p"', "a", {"host": HOST, "user": "a"}, P)
    assert out == f'[defaults]\nprofile = "p"\n\n[services.a]\nhost = "{HOST}"\nuser = "a"\n'


def test_header_with_spaces_and_quotes_is_found() -> None:
    text = f'[ services . "a" ]  # the a\nhost = "{HOST}"\nuser = "a"\n[services.b]\nuser = "b"\n'
    assert find_span(text, "a") == (0, 3)
    out = set_service(text, "a", {"host": HOST, "user": "q"}, P)
    assert out == f'[services.a]\nhost = "{HOST}"\nuser = "q"\n[services.b]\nuser = "b"\n'


UNUSUAL = {
    "inline": f'[services]\nprod = {{ host = "{HOST}", user = "alice" }}\n',
    "dotted_under_services": f'[services]\nprod.host = "{HOST}"\nprod.user = "alice"\n',
    "dotted_top_level": f'services.prod.host = "{HOST}"\nservices.prod.user = "alice"\n',
}


@pytest.mark.parametrize("text", UNUSUAL.values(), ids=UNUSUAL.keys())
def test_unusual_definitions_refused_not_misedited(text: str) -> None:
    assert find_span(text, "prod") is None
    with pytest.raises(ConfigError, match=r"^/cfg/config.toml: cannot safely edit service 'prod'.*by hand$"):
        set_service(text, "prod", {"host": HOST, "user": "bob"}, P)
    with pytest.raises(ConfigError, match=r"^/cfg/config.toml: no \[services.prod\] table to remove"):
        remove_service(text, "prod", P)


def test_header_inside_a_multiline_string_is_not_trusted() -> None:
    text = '[defaults]\nprofile = """\n[services.prod]\nhost = "x"\n"""\n'
    with pytest.raises(ConfigError, match="cannot safely edit"):
        set_service(text, "prod", {"host": HOST, "user": "bob"}, P)


def test_other_services_defined_inline_are_kept() -> None:
    text = f'[services]\nother = {{ host = "{HOST}", user = "o" }}\n'
    out = set_service(text, "x", {"host": HOST, "user": "x"}, P)
    assert parsed(out)["services"] == {"other": {"host": HOST, "user": "o"}, "x": {"host": HOST, "user": "x"}}


def test_unwritable_values_refused() -> None:
    with pytest.raises(ConfigError, match=r"service 'a': key 'user' is not valid UTF-8"):
        set_service("", "a", {"host": HOST, "user": "al\udcffice"}, P)
    with pytest.raises(ConfigError, match=r"key 'libpq' is not valid UTF-8"):
        set_service("", "a", {"libpq": {"k\udcff": "v"}}, P)


def test_toml_value() -> None:
    assert toml_value(True) == "true" and toml_value(5) == "5"
    assert toml_value('a"b\\c') == '"a\\"b\\\\c"'
    assert toml_value(["x", 1]) == '["x", 1]'
    assert toml_value({"a": "b", "c d": 2}) == '{ a = "b", "c d" = 2 }'
    with pytest.raises(TypeError):
        toml_value(1.5)


# --------------------------------------------------------------------------- generated round trips

names = st.text(alphabet=string.ascii_letters + string.digits + "_.-", min_size=1, max_size=20)
# any text TOML strings can hold: quotes, backslashes, unicode, control characters, DEL (no surrogates)
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
libpq_keys = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=12)
values = st.fixed_dictionaries(
    {"host": texts, "user": texts},
    optional={
        "port": st.integers(1, 65535), "jdbc": st.booleans(), "db_groups": st.lists(texts, max_size=3),
        "libpq": st.dictionaries(libpq_keys, texts | st.integers(0, 10**6), max_size=3),
    },
)


@settings(max_examples=150, deadline=None)
@given(base=st.sampled_from(list(TYPICAL.values())), name=names, vals=values)
def test_generated_round_trip(base: str, name: str, vals: dict[str, Any]) -> None:
    before = parsed(base)
    existing = name in before.get("services", {})
    out = set_service(base, name, vals, P)
    assert parsed(out)["services"][name] == vals
    if not existing:
        assert out.startswith(base)
        assert remove_service(out, name, P) == base
    again = set_service(out, name, {"host": "h", "user": "u"}, P)  # replacing is clean too
    assert parsed(again)["services"][name] == {"host": "h", "user": "u"}
    rest = parsed(again)
    rest["services"].pop(name)
    want = parsed(out)
    want["services"].pop(name)
    assert rest == want
