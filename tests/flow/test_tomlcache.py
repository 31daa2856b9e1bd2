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


HOST1 = "db1.abcdefghijkl.eu-west-1.rds.amazonaws.com"


def _refresh_then_forbid_building(cli: Cli, monkeypatch: Any) -> list[str]:
    """A first refresh (it writes tokens and succeeds, so it keeps the caches); from then on building
    the config from the TOML is recorded: a run answered from the cache builds nothing."""
    from pgiam.config import model

    assert cli("refresh").code == 0
    built: list[str] = []
    real = model.load

    def load(*args: Any, **kwargs: Any) -> Any:
        built.append(str(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "load", load)
    return built


def test_the_built_config_is_reused_only_for_the_same_inputs(cli: Cli, isolated_env: Path, monkeypatch: Any,
                                                             tmp_path: Path) -> None:
    cfg = isolated_env / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f'[services.a]\nhost = "{HOST1}"\nuser = "u1"\nsslrootcert = "~/ca.pem"\n')
    (isolated_env / "ca.pem").write_text("x")
    cli.static_keys()
    built = _refresh_then_forbid_building(cli, monkeypatch)
    r = cli("refresh", "--force")
    assert r.code == 0, r.err
    assert built == [], "the second run built the config again"
    assert f"sslrootcert={isolated_env}/ca.pem" in (isolated_env / ".pg_service.conf").read_text()

    # another home: `~` means something else, so the config is built anew
    other = tmp_path / "otherhome"
    (other / ".config" / "pgiam").mkdir(parents=True)
    (other / ".config" / "pgiam" / "config.toml").write_bytes(cfg.read_bytes())
    (other / "ca.pem").write_text("x")
    r = cli("status", "--json", env={"HOME": str(other), "XDG_CONFIG_HOME": str(other / ".config"),
                                     "XDG_STATE_HOME": str(isolated_env / ".local" / "state")})
    assert built, "a run in another home answered from the cache"

    # an edit of the same size: built anew, and the new value is what the stanza gets
    built.clear()
    cfg.write_text(cfg.read_text().replace('user = "u1"', 'user = "u2"'))
    r = cli("refresh", "--force")
    assert built and "user=u2" in (isolated_env / ".pg_service.conf").read_text(), r.err


def test_a_site_config_change_is_seen_through_the_cache(cli: Cli, isolated_env: Path, monkeypatch: Any,
                                                        tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[defaults]\nregion = "eu-west-1"\n')
    cli.env["PGIAM_SITE_CONFIG"] = str(site)
    cfg = isolated_env / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f'[services.a]\nhost = "{HOST1}"\nuser = "u1"\n')
    cli.static_keys()
    built = _refresh_then_forbid_building(cli, monkeypatch)
    assert cli("refresh", "--force").code == 0 and built == []
    site.write_text(f'[services.shared]\nhost = "{HOST1}"\nuser = "team"\n')
    r = cli("refresh")
    assert r.code == 0 and built, r.err
    assert "[shared]" in (isolated_env / ".pg_service.conf").read_text()
