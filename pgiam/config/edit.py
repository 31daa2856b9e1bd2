"""Pure edits of the TOML config text: set or remove one [services.NAME] table, keep the rest.

The result is re-parsed and compared with what was intended, so an edit that would change
anything else (or that cannot be done line-wise) is refused rather than written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pgiam.config.model import parse_toml
from pgiam.errors import ConfigError

_HEADER = re.compile(r"^\s*\[\s*(?P<path>[^\[\]]+?)\s*\]\s*(#.*)?$")
_ARRAY_HEADER = re.compile(r"^\s*\[\[")


def toml_value(value: Any) -> str:
    """Render a config value as TOML (strings as basic strings with JSON-compatible escapes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # TOML forbids a raw DEL (U+007F) in strings, which json.dumps leaves as it is
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _key(k: str) -> str:
    return k if re.match(r"^[A-Za-z0-9_-]+$", k) else json.dumps(k)


def _table_path(line: str) -> list[str] | None:
    m = _HEADER.match(line)
    if not m or _ARRAY_HEADER.match(line):
        return None
    parts = []
    for raw in re.findall(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|[^.\s]+', m.group("path")):
        parts.append(json.loads(raw) if raw.startswith('"') else raw.strip("'"))
    return parts


def _span(lines: list[str], name: str) -> tuple[int, int] | None:
    """[start, end) of the lines owned by [services.NAME] (and its sub-tables)."""
    start = None
    for i, line in enumerate(lines):
        path = _table_path(line) if line.lstrip().startswith("[") else None
        if path is None and not _ARRAY_HEADER.match(line):
            continue
        if start is None:
            if path == ["services", name]:
                start = i
            continue
        if path is not None and path[:2] == ["services", name]:
            continue
        return start, _trim(lines, start, i)
    if start is None:
        return None
    return start, _trim(lines, start, len(lines))


def _trim(lines: list[str], start: int, end: int) -> int:
    """Trailing blank and comment lines of a table belong to what follows it."""
    while end > start + 1 and (lines[end - 1].strip() == "" or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return end


def find_span(text: str, name: str) -> tuple[int, int] | None:
    """Line span of [services.NAME] in the text, None when it is not defined as its own table."""
    return _span(text.splitlines(keepends=True), name)


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text.split("\n", 1)[0] + "\n" else "\n"


def set_service(text: str, name: str, values: Mapping[str, Any], path: Path) -> str:
    """Create or replace [services.NAME] with exactly `values`."""
    for key, value in values.items():
        if _not_utf8(value):  # e.g. undecodable bytes in argv, carried as surrogates
            raise ConfigError(f"{path}: service {name!r}: key {key!r} is not valid UTF-8 text")
    nl = _newline(text) if text else "\n"
    lines = text.splitlines(keepends=True)
    block = [f"[services.{_key(name)}]{nl}"] + [f"{_key(k)} = {toml_value(v)}{nl}" for k, v in values.items()]
    span = _span(lines, name)
    if span is None:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += nl
        if lines and lines[-1].strip():
            block.insert(0, nl)
        new = lines + block
    else:
        new = lines[: span[0]] + block + lines[span[1]:]
    result = "".join(new)
    _verify(text, result, name, dict(values), path)
    return result


def _not_utf8(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, Mapping):
        return any(_not_utf8(k) or _not_utf8(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_not_utf8(v) for v in value)
    return False


def remove_service(text: str, name: str, path: Path) -> str:
    lines = text.splitlines(keepends=True)
    span = _span(lines, name)
    if span is None:
        raise ConfigError(f"{path}: no [services.{name}] table to remove; edit the file by hand")
    start, end = span
    if start > 0 and lines[start - 1].strip() == "" and (end == len(lines) or lines[end].strip() == ""):
        start -= 1
    result = "".join(lines[:start] + lines[end:])
    _verify(text, result, name, None, path)
    return result


def _verify(old: str, new: str, name: str, values: dict[str, Any] | None, path: Path) -> None:
    before = parse_toml(old.encode(), path) if old.strip() else {}
    try:
        after = parse_toml(new.encode(), path)
    except ConfigError:
        after = None
    expected = json.loads(json.dumps(before))
    services = expected.setdefault("services", {})
    if values is None:
        services.pop(name, None)
        if not services:
            expected.pop("services")
    else:
        services[name] = json.loads(json.dumps(values))
    if after is None or json.loads(json.dumps(after)) != expected:
        raise ConfigError(
            f"{path}: cannot safely edit service {name!r} in place (it is defined in an unusual way); "
            "edit the file by hand"
        )
