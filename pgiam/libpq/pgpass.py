"""Pure editing of pgpass text, matched exactly the way libpq (>= 13) reads it.

No I/O here: every function takes and returns bytes, because a pgpass file may hold invalid UTF-8,
CRLF line ends, NUL bytes or no final newline, and pgiam must leave every line it does not own
byte-identical.

What libpq does (fe-connect.c ``passwordFromFile`` / ``pwdfMatchesString``), and so what ``lookup``
implements:

* The file is read line by line (``\\n`` ends a line); a line whose first byte is ``#`` is a comment
  (libpq 13.0 / 12.5 / 11.10 / 10.15 and newer); trailing ``\\r`` and ``\\n`` bytes are stripped; an
  empty line is skipped. Lines are unlimited in length.
* A NUL byte hides the rest of its line *and its newline*: libpq appends the next line to the bytes
  before the NUL (``fgets`` + ``strlen``). ``lookup`` emulates that exactly; ``upsert`` refuses such a
  file (``MalformedPgpassError``) because it cannot promise what libpq will read.
* The connection's values are matched field by field: a field that is exactly ``*`` followed by ``:``
  matches anything; otherwise the field is compared byte by byte, case-sensitively, where a backslash
  makes the next byte literal. A field ends at an unescaped ``:`` once the whole value has been
  compared, so an *unescaped* ``:`` inside a field still matches a ``:`` in the value (IPv6 hosts).
* The password is the rest of the line up to the first unescaped ``:``, with backslashes removed.
  A line with only four fields never matches; ``h:p:d:u:`` matches with an empty password.
* First matching line wins. An empty host means ``localhost``; an empty port means ``5432``; an empty
  database or user name means libpq does not consult the file at all (``lookup`` returns None).
  Mapping a Unix-socket directory to ``localhost`` is the caller's business.

pgiam's own lines (``format_line``) escape ``\\`` and ``:`` in all five fields and nothing else (pgjdbc
un-escapes only those two). In a ``Key`` a field that is exactly ``*`` means the wildcard and is written
unescaped; every other value is literal.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from pgiam.errors import PgiamError, UsageError
from pgiam.libpq.lines import split_raw as _split_raw
from pgiam.libpq.rules import OLD_PGPASS_LINE_MAX

WILDCARD = "*"
DEFAULT_HOST = "localhost"
DEFAULT_PORT = "5432"
#: libpq before 13.0 / 12.5 / 11.10 / 10.15 reads lines in 319-byte pieces (newline included).
OLD_LIBPQ_MAX_LINE = OLD_PGPASS_LINE_MAX

_BACKSLASH = 0x5C
_COLON = 0x3A
_FIELD_NAMES = ("host", "port", "dbname", "user", "password")


class MalformedPgpassError(PgiamError):
    """The pgpass text is too damaged for pgiam to edit it safely (exit 1); nothing was changed."""


@dataclass(frozen=True)
class Key:
    """The four match fields of a pgpass line, unescaped. A field of exactly ``*`` is the wildcard."""

    host: str
    port: str
    dbname: str
    user: str

    def fields(self) -> tuple[str, str, str, str]:
        return (self.host, self.port, self.dbname, self.user)


class Line(NamedTuple):
    """One physical line (a named tuple: a 1000-line file is parsed on every run that writes).

    raw: the exact bytes, terminator included (the last line may have none).
    fields: the unescaped fields of a data line (at most five; anything after the password's first
        unescaped ``:`` is ignored, as libpq does), or None for a blank or ``#`` comment line.
        This is the syntactic view (split at unescaped ``:``); NUL bytes are treated as ordinary bytes.
    wildcards: for each field, whether it is the unescaped wildcard ``*`` (``\\*`` is a literal star).
    """

    raw: bytes
    fields: tuple[bytes, ...] | None
    wildcards: tuple[bool, ...] = ()

    @property
    def is_entry(self) -> bool:
        """True when the line has all five fields (the only lines libpq can match)."""
        return self.fields is not None and len(self.fields) == 5


# --------------------------------------------------------------------------- parse / dump


def _content(raw: bytes) -> bytes:
    """The line as libpq matches it: trailing CR/LF bytes stripped (pg_strip_crlf)."""
    return raw.rstrip(b"\r\n")


def _terminator(raw: bytes) -> bytes:
    return raw[len(_content(raw)) :]


def _field_at(content: bytes, i: int) -> tuple[bytes, int]:
    """The unescaped field starting at ``i`` and where it ends (its terminating ``:``, or the end).

    A backslash makes the next byte literal; a lone backslash at the very end is kept. Works in
    bytes.find steps (one per escape), not byte by byte: token lines are long and carry escapes.
    """
    n = len(content)
    out: list[bytes] = []
    while True:
        colon = content.find(b":", i)
        slash = content.find(b"\\", i, n if colon == -1 else colon)
        if slash == -1:
            end = n if colon == -1 else colon
            out.append(content[i:end])
            return b"".join(out), end
        out.append(content[i:slash])
        if slash + 1 >= n:
            out.append(b"\\")
            return b"".join(out), n
        out.append(content[slash + 1 : slash + 2])
        i = slash + 2


def _split_fields(content: bytes) -> tuple[tuple[bytes, ...], tuple[bool, ...]]:
    if b"\\" not in content:  # no escapes (most lines): every ':' ends a field
        parts = content.split(b":", 5)[:5]
        return tuple(parts), tuple(map(b"*".__eq__, parts))
    return _split_escaped(content)


def _split_escaped(content: bytes) -> tuple[tuple[bytes, ...], tuple[bool, ...]]:
    fields: list[bytes] = []
    wild: list[bool] = []
    n = len(content)
    i = 0
    while True:
        value, end = _field_at(content, i)
        fields.append(value)
        wild.append(content[i:end] == b"*")
        if end >= n or len(fields) == 5:  # end < n: stopped at an unescaped ':'
            break
        i = end + 1
    return tuple(fields), tuple(wild)


def parse_line(raw: bytes) -> Line:
    content = _content(raw)
    if raw.startswith(b"#") or not content:
        return Line(raw, None)
    fields, wild = _split_fields(content)
    return Line(raw, fields, wild)


def parse(data: bytes) -> list[Line]:
    """Split pgpass text into lines; ``dump(parse(s)) == s`` for any bytes."""
    return [parse_line(raw) for raw in _split_raw(data)]


def dump(lines: Sequence[Line]) -> bytes:
    return b"".join(line.raw for line in lines)


# --------------------------------------------------------------------------- escaping


def escape(value: str) -> str:
    """Escape exactly ``\\`` and ``:`` (the only escapes both libpq and pgjdbc understand)."""
    return value.replace("\\", "\\\\").replace(":", "\\:")


def unescape(field: str) -> str:
    """Inverse of ``escape`` (and libpq's reading of one field): a backslash makes the next char literal."""
    out: list[str] = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and i + 1 < len(field):
            i += 1
        out.append(field[i])
        i += 1
    return "".join(out)


def _encode(name: str, value: str) -> bytes:
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise UsageError(f"pgpass {name} is not valid Unicode text") from None


def _validate(key: Key, password: str) -> None:
    for name, value in zip(_FIELD_NAMES, (*key.fields(), password)):
        if "\0" in value or "\r" in value or "\n" in value:
            raise UsageError(f"pgpass {name} must not contain NUL, CR or LF characters")
        if not value:
            hint = "" if name == "password" else " (libpq never matches an empty field; use * for any)"
            raise UsageError(f"pgpass {name} must not be empty{hint}")
        if name != "password" and value != value.strip():
            raise UsageError(f"pgpass {name} must not start or end with whitespace")
        _encode(name, value)


def _escape_field(value: str) -> str:
    return value if value == WILDCARD else escape(value)


def format_line(key: Key, password: str) -> bytes:
    """The LF-terminated line pgiam writes: five escaped fields. Raises UsageError on bad values."""
    _validate(key, password)
    text = ":".join([*(_escape_field(v) for v in key.fields()), escape(password)])
    return text.encode("utf-8", "surrogateescape") + b"\n"


# --------------------------------------------------------------------------- libpq emulation


def _libpq_records(data: bytes) -> Iterator[tuple[int, bytes]]:
    """What libpq's read loop hands to the matcher: (index of the record's first line, buffer).

    Emulates ``enlargePQExpBuffer(&buf, 128)`` + ``fgets`` + ``strlen``: the buffer starts at 256
    bytes and doubles; bytes after a NUL (up to the end of that fgets chunk) are lost.
    """
    n = len(data)
    pos = 0
    line_idx = 0
    maxlen = 256
    buf = bytearray()
    rec_start = 0
    fresh = True
    eof = False
    while not eof:
        needed = len(buf) + 128 + 1
        while needed > maxlen:
            maxlen *= 2
        limit = maxlen - len(buf) - 1
        if pos >= n:
            break  # fgets() returns NULL: whatever is buffered is dropped
        nl = data.find(b"\n", pos, pos + limit)
        if nl != -1:
            chunk = data[pos : nl + 1]
        elif n - pos < limit:
            chunk = data[pos:]
            eof = True
        else:
            chunk = data[pos : pos + limit]
        if fresh:
            rec_start = line_idx
            fresh = False
        pos += len(chunk)
        line_idx += chunk.count(b"\n")
        nul = chunk.find(b"\0")
        buf += chunk if nul == -1 else chunk[:nul]
        if not (buf and buf[-1] == 0x0A) and not eof:
            continue
        yield rec_start, bytes(buf)
        buf = bytearray()
        fresh = True


def _match_field(buf: bytes, pos: int, token: bytes) -> int | None:
    """pwdfMatchesString: position after the field if it matches ``token``, else None."""
    if buf[pos : pos + 2] == b"*:":
        return pos + 2
    n = len(buf)
    i = pos
    t = 0
    while i < n:
        escaped = False
        if buf[i] == _BACKSLASH:
            i += 1
            escaped = True
        c = buf[i] if i < n else 0
        if c == _COLON and t == len(token) and not escaped:
            return i + 1
        if t == len(token) or c != token[t]:
            return None
        i += 1
        t += 1
    return None


def _field_ends(buf: bytes, pos: int, token: bytes | None) -> list[int]:
    """Where the field at ``pos`` may end for ``token``; None stands for every possible value."""
    if token is not None or buf[pos : pos + 2] == b"*:":
        end = _match_field(buf, pos, token or b"")
        return [] if end is None else [end]
    ends: list[int] = []
    n = len(buf)
    i = pos
    consumed = 0
    while i < n:
        if buf[i] == _BACKSLASH:
            if i + 1 >= n:
                break
            i += 2
        else:
            if buf[i] == _COLON and consumed:
                ends.append(i + 1)
            i += 1
        consumed += 1
    return ends


def _record_match(content: bytes, tokens: Sequence[bytes | None]) -> bool:
    positions = {0}
    for token in tokens:
        nxt: set[int] = set()
        for p in positions:
            nxt.update(_field_ends(content, p, token))
        if not nxt:
            return False
        positions = nxt
    return True


def _password_at(buf: bytes, pos: int) -> bytes:
    out = bytearray()
    n = len(buf)
    i = pos
    while i < n and buf[i] != _COLON:
        if buf[i] == _BACKSLASH and i + 1 < n:
            i += 1
        out.append(buf[i])
        i += 1
    return bytes(out)


def _c_string(value: str) -> bytes:
    raw = value.encode("utf-8", "surrogateescape")
    nul = raw.find(b"\0")
    return raw if nul == -1 else raw[:nul]


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def lookup(data: bytes, host: str, port: str, dbname: str, user: str) -> tuple[int, str] | None:
    """The password libpq (>= 13) would take from this pgpass text for that connection.

    Returns (index in ``parse(data)`` of the line where the matching record starts, password) or
    None. The password is decoded as UTF-8 with surrogateescape. Values are C strings (cut at NUL).
    """
    tokens = [_c_string(v) for v in (host, port, dbname, user)]
    if not tokens[0]:
        tokens[0] = DEFAULT_HOST.encode()
    if not tokens[1]:
        tokens[1] = DEFAULT_PORT.encode()
    if not tokens[2] or not tokens[3]:
        return None
    for start, rec in _libpq_records(data):
        if rec.startswith(b"#"):
            continue
        content = _content(rec)
        if not content:
            continue
        pos: int | None = 0
        for token in tokens:
            assert pos is not None
            pos = _match_field(content, pos, token)
            if pos is None:
                break
        if pos is not None:
            return start, _decode(_password_at(content, pos))
    return None


# --------------------------------------------------------------------------- editing


def _key_tokens(key: Key) -> list[bytes | None]:
    return [None if v == WILDCARD else _encode(n, v) for n, v in zip(_FIELD_NAMES, key.fields())]


def _owns(line: Line, key: Key) -> bool:
    if not line.is_entry or line.fields is None:
        return False
    for i, value in enumerate(key.fields()):
        wild = value == WILDCARD
        if line.wildcards[i] != wild or line.fields[i] != value.encode("utf-8", "surrogateescape"):
            return False
    return True


def _would_match(line: Line, tokens: Sequence[bytes | None]) -> bool:
    """Whether libpq could pick this line for some connection the key covers."""
    if line.fields is None:
        return False
    return _record_match(_content(line.raw), tokens)


def find(data: bytes, key: Key) -> tuple[int, str] | None:
    """The line pgiam owns for ``key``: the first whose four fields equal the key's literally
    (a ``*`` key field only equals an unescaped ``*``). Returns (line index, password) or None."""
    for idx, line in enumerate(parse(data)):
        if _owns(line, key) and line.fields is not None:
            return idx, _decode(line.fields[4])
    return None


def _newline(lines: Sequence[Line]) -> bytes:
    """CRLF when the file's first terminated line ends in CRLF (or its only line in CR), else LF."""
    for line in lines:
        if line.raw.endswith(b"\n"):
            return b"\r\n" if line.raw.endswith(b"\r\n") else b"\n"
    return b"\r\n" if lines and lines[-1].raw.endswith(b"\r") else b"\n"


def _refuse_nul(data: bytes) -> None:
    if b"\0" in data:
        lineno = data[: data.index(b"\0")].count(b"\n") + 1
        raise MalformedPgpassError(
            f"pgpass line {lineno} contains a NUL byte, which makes libpq misread the lines after it; "
            "remove that byte, then retry"
        )


def upsert(data: bytes, key: Key, password: str) -> bytes:
    """Set the password for ``key`` so that ``lookup`` for the key's connection returns it.

    The owned line (see ``find``) is replaced in place (keeping its line ending) when no earlier line
    could match the same connection; otherwise the new line goes right before the first line that
    could (e.g. ``*:*:*:*:old``), and the old owned line is dropped. Further duplicate owned lines
    are removed. Every other line stays byte-identical and in order, except that when appending to
    text whose last line has no newline, that line gets one (unavoidable). New lines end in CRLF when
    the file's lines do. Raises UsageError for bad values, MalformedPgpassError for NUL bytes.
    """
    new_body = format_line(key, password)[:-1]
    _refuse_nul(data)
    lines = parse(data)
    nl = _newline(lines)
    tokens = _key_tokens(key)
    owned = [i for i, line in enumerate(lines) if _owns(line, key)]
    first = next((i for i, line in enumerate(lines) if _would_match(line, tokens)), None)
    raws = [line.raw for line in lines]
    in_place = bool(owned) and first == owned[0]
    if in_place:
        raws[owned[0]] = new_body + _terminator(raws[owned[0]])
        drop = set(owned[1:])
        insert_at = None
    else:
        drop = set(owned)
        insert_at = first
    out: list[bytes] = []
    for i, raw in enumerate(raws):
        if i == insert_at:
            out.append(new_body + nl)
        if i not in drop:
            out.append(raw)
    if insert_at is None and not in_place:
        if out and not out[-1].endswith(b"\n"):
            out[-1] += b"\n" if out[-1].endswith(b"\r") else nl
        out.append(new_body + nl)
    return b"".join(out)


def remove(data: bytes, key: Key) -> bytes:
    """Drop every line pgiam owns for ``key``; nothing else changes."""
    return b"".join(line.raw for line in parse(data) if not _owns(line, key))


def problems(data: bytes) -> list[str]:
    """Human notes on lines libpq will misread. Each names the line number, never its content."""
    notes: list[str] = []
    for no, line in enumerate(parse(data), 1):
        if b"\0" in line.raw:
            notes.append(
                f"line {no} contains a NUL byte; libpq ignores the rest of that line "
                "and glues the next line onto it"
            )
        if line.fields is not None and len(line.fields) < 5:
            notes.append(
                f"line {no} has {len(line.fields)} field(s); libpq never matches a line without all "
                "five (host:port:database:user:password)"
            )
        length = len(line.raw) - (1 if line.raw.endswith(b"\n") else 0)
        if length > OLD_LIBPQ_MAX_LINE:
            notes.append(
                f"line {no} is {length} bytes long; libpq older than 13.0/12.5/11.10/10.15 reads at "
                f"most {OLD_LIBPQ_MAX_LINE} bytes of a line and would truncate it"
            )
    return notes
