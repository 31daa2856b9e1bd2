"""The parsed-config cache answers only for byte-identical files; anything odd is parsed anew."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pgiam.config.model import parse_toml
from pgiam.flow import tomlcache
from tests.conftest import Cli


def counting(calls: list[bytes]) -> Any:
    def parse(data: bytes, path: Path) -> dict[str, Any]:
        calls.append(data)
        return parse_toml(data, path)

    return parse


def test_same_bytes_are_answered_from_the_cache_others_parsed(tmp_path: Path) -> None:
    cache, cfg = tmp_path / "state" / "c", tmp_path / "config.toml"
    calls: list[bytes] = []
    a, b = b'[services.x]\nhost = "h"\n', b'[services.x]\nhost = "i"\n'  # same size, other bytes
    first = tomlcache.parser(cache, counting(calls))
    assert first(a, cfg) == {"services": {"x": {"host": "h"}}}
    assert not cache.exists()  # nothing is written until the caller saves
    first.save()
    assert tomlcache.parser(cache, counting(calls))(a, cfg) == {"services": {"x": {"host": "h"}}}
    assert calls == [a]
    assert tomlcache.parser(cache, counting(calls))(b, cfg) == {"services": {"x": {"host": "i"}}}
    assert calls == [a, b]
    assert cache.stat().st_mode & 0o777 == 0o600


def test_a_corrupt_cache_or_an_unmarshalable_document_is_no_problem(tmp_path: Path) -> None:
    cache, cfg = tmp_path / "c", tmp_path / "config.toml"
    cache.write_bytes(b"\x00garbage")
    calls: list[bytes] = []
    dated = b"[defaults]\nwhen = 2024-01-01T00:00:00Z\n"
    for _ in range(2):
        p = tomlcache.parser(cache, counting(calls))
        assert "defaults" in p(dated, cfg)
        p.save()
    assert calls == [dated, dated]


def test_a_config_edit_in_place_is_seen(cli: Cli, isolated_env: Path) -> None:
    cfg = isolated_env / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('[services.a]\nhost = "db1.abcdefghijkl.eu-west-1.rds.amazonaws.com"\nuser = "u1"\n')
    cli.static_keys()
    st = cfg.stat()
    assert cli("refresh").code == 0
    cfg.write_text('[services.b]\nhost = "db1.abcdefghijkl.eu-west-1.rds.amazonaws.com"\nuser = "u1"\n')
    import os

    os.utime(cfg, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime: only the bytes differ
    r = cli("status", "--json")
    assert r.code == 0 and '"b"' in r.out and '"a"' not in r.out, r.out
