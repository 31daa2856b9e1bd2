"""Pure editing of pg_service.conf text, read the way libpq (fe-connect.c ``parseServiceFile``) does.

No I/O: bytes in, bytes out; ``dump(parse(s)) == s`` for any bytes.

libpq, line by line (``\\n`` ends a line): leading and trailing whitespace (C ``isspace``: space, tab,
CR, LF, VT, FF) is stripped; empty lines and lines starting with ``#`` are skipped; a line starting with
``[`` is a section header and matches service NAME when it starts with ``[NAME]`` (case-sensitive;
anything after the ``]`` is ignored); the first matching section wins and ends at the next header.
Inside it, ``key=value`` splits at the first ``=``: the key must be a libpq keyword (``key = value``
fails because the key is then ``"key "``), the value is everything after ``=`` verbatim (trailing
whitespace already stripped). A line without ``=`` or with ``service=`` fails the lookup. libpq 14+
fails every lookup that reads a line of 1023 bytes or more counting its newline (content over 1021
bytes); libpq 13 and older, 255 bytes (content over 253).

pgiam marks the stanzas it writes with a ``# managed by pgiam`` comment as the first line after the
header. A stanza is managed when its first occurrence contains a line starting with that text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from pgiam.errors import UsageError
from pgiam.libpq.lines import split_raw as _split_raw
from pgiam.libpq.rules import SERVICE_LINE_MAX, SERVICE_LINE_MAX_OLD

MARKER_PREFIX = b"# managed by pgiam"
MARKER = MARKER_PREFIX + b": pgiam rewrites this stanza; change it with pgiam, not here"
#: libpq 14+ rejects a line whose content (CR included, LF excluded) is longer than this.
MAX_LINE = SERVICE_LINE_MAX
#: libpq 13 and older: the same, with a 256-byte buffer.
MAX_LINE_OLD = SERVICE_LINE_MAX_OLD

_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")
_KEY_RE = re.compile(r"[a-z_]+")
_FORBIDDEN_KEYS = {
    "service": "libpq rejects service= inside a stanza",
    "servicefile": "a stanza cannot point at another service file",
    "password": "never put a password in pg_service.conf; pgiam keeps the token in pgpass",
}


class ForeignStanzaError(UsageError):
    """The stanza exists but pgiam did not write it (exit 2)."""


class Section(NamedTuple):
    """A ``[name]`` header line and every raw line up to the next header (a named tuple: cheap to make
    a thousand of).

    name: the bytes between ``[`` and the first ``]`` of the stripped header, or None without ``]``.
    lineno: 1-based line number of the header.
    """

    header: bytes
    name: bytes | None
    body: tuple[bytes, ...]
    lineno: int


@dataclass(frozen=True)
class ServiceFile:
    preamble: tuple[bytes, ...]
    sections: tuple[Section, ...]


# --------------------------------------------------------------------------- parse / dump


def _is_blank(raw: bytes) -> bool:
    return not raw.strip()


def _is_comment(raw: bytes) -> bool:
    return raw.strip().startswith(b"#")


def _is_header(raw: bytes) -> bool:
    return raw.strip().startswith(b"[")


def _is_marker(raw: bytes) -> bool:
    return raw.strip().startswith(MARKER_PREFIX)


def _is_data(raw: bytes) -> bool:
    s = raw.strip()
    return bool(s) and not s.startswith((b"#", b"["))


def _header_name(raw: bytes) -> bytes | None:
    s = raw.strip()
    end = s.find(b"]")
    return s[1:end] if end != -1 else None


def _header_matches(raw: bytes, name: bytes) -> bool:
    """libpq's test: ``strncmp(line + 1, service, len) == 0 && line[len + 1] == ']'``."""
    s = raw.strip()
    return s.startswith(b"[") and s[1 : 1 + len(name)] == name and s[1 + len(name) : 2 + len(name)] == b"]"


def parse(data: bytes) -> ServiceFile:
    lines = _split_raw(data)
    starts = [i for i, raw in enumerate(lines) if _is_header(raw)]
    preamble = tuple(lines[: starts[0]] if starts else lines)
    sections = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        raw = lines[start]
        sections.append(Section(raw, _header_name(raw), tuple(lines[start + 1 : end]), start + 1))
    return ServiceFile(preamble, tuple(sections))


def dump(sf: ServiceFile) -> bytes:
    parts = list(sf.preamble)
    for section in sf.sections:
        parts.append(section.header)
        parts.extend(section.body)
    return b"".join(parts)


# --------------------------------------------------------------------------- reading


def _find(lines: Sequence[bytes], name: bytes, start: int = 0) -> tuple[int, int] | None:
    """(header index, index after the section) of the first section at or after ``start``."""
    for i in range(start, len(lines)):
        if _header_matches(lines[i], name):
            end = next((j for j in range(i + 1, len(lines)) if _is_header(lines[j])), len(lines))
            return i, end
    return None


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def get(data: bytes, name: str) -> list[tuple[str, str]] | None:
    """The ``key=value`` pairs libpq reads from the first ``[name]`` stanza, in file order, or None
    when there is no such stanza. Lines without ``=`` (a libpq syntax error) are left out; libpq uses
    the first of duplicate keys. Text is decoded as UTF-8 with surrogateescape."""
    lines = _split_raw(data)
    found = _find(lines, name.encode("utf-8", "surrogateescape"))
    if found is None:
        return None
    pairs: list[tuple[str, str]] = []
    for raw in lines[found[0] + 1 : found[1]]:
        if not _is_data(raw):
            continue
        key, sep, value = raw.strip().partition(b"=")
        if sep:
            pairs.append((_decode(key), _decode(value)))
    return pairs


def lookup(data: bytes, name: str) -> tuple[list[tuple[str, str]] | None, bool | None]:
    """``(get(data, name), is_managed(data, name))`` from one pass."""
    lines = _split_raw(data)
    found = _find(lines, name.encode("utf-8", "surrogateescape"))
    if found is None:
        return None, None
    pairs: list[tuple[str, str]] = []
    managed = False
    for raw in lines[found[0] + 1 : found[1]]:
        if _is_marker(raw):
            managed = True
        if not _is_data(raw):
            continue
        key, sep, value = raw.strip().partition(b"=")
        if sep:
            pairs.append((_decode(key), _decode(value)))
    return pairs, managed


def section_span(data: bytes, name: str) -> tuple[int, int] | None:
    """1-based (header line, last line) of the first ``[name]`` section, or None."""
    lines = _split_raw(data)
    found = _find(lines, name.encode("utf-8", "surrogateescape"))
    return None if found is None else (found[0] + 1, found[1])


def section_spans(data: bytes) -> dict[str, tuple[int, int]]:
    """``section_span`` for every section name at once (one pass): name -> 1-based (header line, last
    line) of its first section. Names holding ``]`` are left out (libpq cannot look them up)."""
    lines = _split_raw(data)
    spans: dict[str, tuple[int, int]] = {}
    current: str | None = None
    for i, raw in enumerate(lines):
        if not _is_header(raw):
            continue
        if current is not None:
            spans[current] = (spans[current][0], i)
        name = _header_name(raw)
        current = None
        if name is not None and b"]" not in name:
            key = _decode(name)
            if key not in spans:
                spans[key] = (i + 1, len(lines))
                current = key
    return spans


def section_text(data: bytes, name: str) -> bytes | None:
    """The bytes of the first ``[name]`` stanza from its header to its last marker or data line."""
    lines = _split_raw(data)
    found = _find(lines, name.encode("utf-8", "surrogateescape"))
    if found is None:
        return None
    start, end = found
    return b"".join(lines[start : _owned(lines, start, end)[-1] + 1])


def replace_section(data: bytes, name: str, text: bytes) -> bytes:
    """Put ``text`` where the first ``[name]`` stanza's header-to-last-data-line span is (see
    section_text); without such a stanza, append it after a blank line. Every other line stays."""
    lines = _split_raw(data)
    found = _find(lines, _validate_name(name))
    if found is None:
        nl = _newline(lines)
        out = list(lines)
        if out:
            if not out[-1].endswith(b"\n"):
                out[-1] += nl
            out.append(nl)
        return b"".join(out) + text
    start, end = found
    last = _owned(lines, start, end)[-1]
    return b"".join(lines[:start]) + text + b"".join(lines[last + 1 :])


def move_to_top(data: bytes, name: str) -> bytes:
    """Move the first ``[name]`` stanza (header to last data line) to the start of the file, followed by
    one blank line, so that no line before it can stop libpq from reaching it."""
    lines = _split_raw(data)
    found = _find(lines, _validate_name(name))
    if found is None or found[0] == 0:
        return data
    text = section_text(data, name)
    assert text is not None
    rest = remove(data, name, force=True)
    nl = _newline(lines)
    if not text.endswith(b"\n"):
        text += nl
    return text + nl + rest


def is_managed(data: bytes, name: str) -> bool | None:
    """Whether pgiam wrote the first ``[name]`` stanza; None when there is none."""
    lines = _split_raw(data)
    found = _find(lines, name.encode("utf-8", "surrogateescape"))
    if found is None:
        return None
    return any(_is_marker(raw) for raw in lines[found[0] + 1 : found[1]])


# --------------------------------------------------------------------------- writing


def _newline(lines: Sequence[bytes]) -> bytes:
    """CRLF when the file's first terminated line ends in CRLF (or its only line in CR), else LF."""
    for raw in lines:
        if raw.endswith(b"\n"):
            return b"\r\n" if raw.endswith(b"\r\n") else b"\n"
    return b"\r\n" if lines and lines[-1].endswith(b"\r") else b"\n"


def _validate_name(name: str) -> bytes:
    if not _NAME_RE.fullmatch(name):
        raise UsageError(f"service name {name!r} is not valid: use only letters, digits, '_', '.' and '-'")
    return name.encode("ascii")


def _rendered(name: str, params: Sequence[tuple[str, str]], nl: bytes) -> tuple[list[bytes], list[str]]:
    return _stanza(name, params, nl)


def _stanza(name: str, params: Sequence[tuple[str, str]], nl: bytes) -> tuple[list[bytes], list[str]]:
    """The lines pgiam writes (terminated with ``nl``) and warnings; raises UsageError on bad input."""
    name_b = _validate_name(name)
    where = f"pg_service.conf [{name}]"
    body = [b"[" + name_b + b"]", MARKER]
    seen: set[str] = set()
    for key, value in params:
        if not _KEY_RE.fullmatch(key):
            raise UsageError(f"{where}: key {key!r} is not a libpq keyword (lowercase letters and '_')")
        if key in _FORBIDDEN_KEYS:
            raise UsageError(f"{where}: refusing to write {key}=: {_FORBIDDEN_KEYS[key]}")
        if key in seen:
            raise UsageError(f"{where}: key {key} is given twice")
        seen.add(key)
        if any(c in value for c in "\0\r\n"):
            raise UsageError(f"{where}: the value of {key} must not contain NUL, CR or LF characters")
        if value != value.strip():
            raise UsageError(f"{where}: the value of {key} must not start or end with whitespace")
        try:
            body.append(key.encode("ascii") + b"=" + value.encode("utf-8"))
        except UnicodeEncodeError:
            raise UsageError(f"{where}: the value of {key} is not valid Unicode text") from None
    warnings: list[str] = []
    for line in body:
        length = len(line) + len(nl) - 1
        what = "header" if line.startswith(b"[") else "the " + _decode(line.partition(b"=")[0]) + "= line"
        if length > MAX_LINE:
            raise UsageError(
                f"{where}: {what} would be {length} bytes; libpq 14+ rejects lines over {MAX_LINE} bytes"
            )
        if length > MAX_LINE_OLD:
            warnings.append(
                f"{where}: {what} is {length} bytes; libpq 13 and older reject lines over "
                f"{MAX_LINE_OLD} bytes and then fail every lookup in the file"
            )
    return [line + nl for line in body], warnings


def _owned(lines: Sequence[bytes], start: int, end: int) -> list[int]:
    """Indices of the lines pgiam owns in the section [start, end): header, markers, data lines."""
    return [start] + [i for i in range(start + 1, end) if _is_marker(lines[i]) or _is_data(lines[i])]


def _duplicates(lines: Sequence[bytes], name: bytes, shown: str) -> list[str]:
    first = _find(lines, name)
    notes: list[str] = []
    while first is not None:
        later = _find(lines, name, first[1])
        if later is None:
            break
        notes.append(
            f"pg_service.conf line {later[0] + 1}: another [{shown}] stanza; libpq reads only the "
            "first one, so this one is ignored (delete it)"
        )
        first = later
    return notes


def _foreign(name: str, action: str) -> ForeignStanzaError:
    return ForeignStanzaError(
        f"pg_service.conf already has a [{name}] stanza that pgiam did not write; "
        f"use --force to {action} it, or choose another service name"
    )


def upsert(
    data: bytes, name: str, params: Sequence[tuple[str, str]], *, force: bool = False
) -> tuple[bytes, list[str]]:
    """Write ``[name]``, the marker and ``key=value`` lines; return (new text, warnings).

    An existing first ``[name]`` stanza must be managed (or ``force``): its header, marker and data
    lines are replaced; comments and blank lines between them are kept right after the marker;
    trailing comments and blank lines (they belong to what follows) and every other line stay
    byte-identical. A new stanza is appended after one blank line when the text is non-empty (a last
    line without newline gets one), which makes ``remove(upsert(x)) == x`` for text ending in a
    newline. New lines end in CRLF when the file's do. Later duplicate stanzas are reported.
    """
    if not data:  # (refresh validates every stanza this way: no lines to split, search or keep)
        stanza, warnings = _rendered(name, params, b"\n")
        return b"".join(stanza), warnings
    lines = _split_raw(data)
    nl = _newline(lines)
    stanza, warnings = _rendered(name, params, nl)
    name_b = name.encode("ascii")
    found = _find(lines, name_b)
    if found is None:
        out = list(lines)
        if out:
            if not out[-1].endswith(b"\n"):
                out[-1] += b"\n" if out[-1].endswith(b"\r") else nl
            out.append(nl)
        out.extend(stanza)
    else:
        start, end = found
        if not force and not any(_is_marker(raw) for raw in lines[start + 1 : end]):
            raise _foreign(name, "take over")
        owned = _owned(lines, start, end)
        core_end = owned[-1]
        kept = [lines[i] for i in range(start + 1, core_end + 1) if i not in owned]
        out = lines[:start] + stanza[:2] + kept + stanza[2:] + lines[core_end + 1 :]
    return b"".join(out), warnings + _duplicates(out, name_b, name)


def newline_of(data: bytes) -> bytes:
    """The line ending upsert gives new lines in this text."""
    return _newline(_split_raw(data))


def render(name: str, params: Sequence[tuple[str, str]], nl: bytes) -> tuple[list[bytes], list[str]]:
    """The stanza's lines (ending in ``nl``) and warnings, as upsert writes them; UsageError on bad input."""
    return _rendered(name, params, nl)


def append_stanzas(data: bytes, stanzas: Sequence[Sequence[bytes]], nl: bytes) -> bytes:
    """What successive upserts of stanzas whose names ``data`` does not contain produce: each appended
    after one blank line (none before the first when the text is empty); a last line without a newline
    gets one first. ``nl`` is ``newline_of(data)`` (appending never changes it)."""
    parts = [data]
    if data and not data.endswith(b"\n"):
        parts.append(b"\n" if data.endswith(b"\r") else nl)
    for k, stanza in enumerate(stanzas):
        if data or k:
            parts.append(nl)
        parts.extend(stanza)
    return b"".join(parts)


def stanza_intact(data: bytes, name: str, params: Sequence[tuple[str, str]]) -> bool:
    """A cheap, sufficient test that ``upsert(data, name, params)`` returns ``data`` unchanged: the text
    starts with exactly the stanza upsert renders and no later line is a header, marker or data line
    (upsert would replace just those lines with the same bytes and keep the rest). False means
    "unknown": ask upsert itself."""
    if not data:
        return False
    lines = _split_raw(data)
    try:
        stanza, _ = _rendered(name, params, _newline(lines))
    except UsageError:
        return False
    n = len(stanza)
    if lines[:n] != stanza:
        return False
    return not any(_is_data(raw) or _is_marker(raw) or _is_header(raw) for raw in lines[n:])


def remove(data: bytes, name: str, *, force: bool = False) -> bytes:
    """Remove the first ``[name]`` stanza's lines from its header to its last marker or data line,
    plus the one blank line right before the header when the stanza is last in the file or followed
    by a blank line. Trailing comments stay. No stanza: ``data`` unchanged. A stanza pgiam did not
    write raises ForeignStanzaError unless ``force``."""
    name_b = _validate_name(name)
    lines = _split_raw(data)
    found = _find(lines, name_b)
    if found is None:
        return data
    start, end = found
    if not force and not any(_is_marker(raw) for raw in lines[start + 1 : end]):
        raise _foreign(name, "remove")
    core_end = _owned(lines, start, end)[-1]
    first = start
    after = core_end + 1
    if start > 0 and _is_blank(lines[start - 1]) and (after >= len(lines) or _is_blank(lines[after])):
        first = start - 1
    return b"".join(lines[:first] + lines[after:])


def long_lines(data: bytes) -> list[tuple[int, int]]:
    """(line number, length) of every line longer than libpq <= 13 accepts."""
    return [
        (no, len(raw) - (1 if raw.endswith(b"\n") else 0))
        for no, raw in enumerate(_split_raw(data), 1)
        if len(raw) >= MAX_LINE_OLD + 2
    ]


def long_line_note(no: int, length: int) -> str:
    """Why a line of this length breaks lookups, and for which libpq versions."""
    if length > MAX_LINE:
        which, limit = "14 and newer", MAX_LINE
    else:
        which, limit = "13 and older", MAX_LINE_OLD
    return (
        f"line {no} is {length} bytes long; libpq {which} reject lines over {limit} bytes and then "
        "fail the lookup of every service not finished before it"
    )


def problems(data: bytes) -> list[str]:
    """Human notes on lines libpq rejects or misreads; each names its line number."""
    notes: list[str] = []
    seen: dict[bytes, int] = {}
    in_section = False
    longs = dict(long_lines(data))
    for no, raw in enumerate(_split_raw(data), 1):
        if no in longs:
            notes.append(long_line_note(no, longs[no]))
        if b"\0" in raw:
            notes.append(f"line {no} contains a NUL byte; libpq ignores the rest of that line")
        s = raw.strip()
        if not s or s.startswith(b"#"):
            continue
        if s.startswith(b"["):
            in_section = True
            section = _header_name(raw)
            if section is None:
                notes.append(f"line {no}: section header without a closing ']'")
            elif section in seen:
                notes.append(
                    f"line {no}: [{_decode(section)}] repeats the stanza at line {seen[section]}; "
                    "libpq reads only the first"
                )
            else:
                seen[section] = no
            continue
        key, sep, value = s.partition(b"=")
        if not in_section:
            notes.append(f"line {no} is outside any [section]; libpq ignores it")
        elif not sep:
            notes.append(f"line {no} is not key=value, a [section] header or a # comment (syntax error)")
        elif not key:
            notes.append(f"line {no}: key=value line without a key (libpq: syntax error)")
        elif key != key.rstrip():
            notes.append(f"line {no}: write key=value without spaces around '=' (libpq: syntax error)")
        elif key == b"service":
            notes.append(f"line {no}: service= inside a stanza; libpq rejects nested services")
        elif value[:1].isspace():
            notes.append(f"line {no}: the value starts with whitespace, which libpq keeps as part of it")
    return notes
