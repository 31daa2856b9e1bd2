"""libpq version rules: pure tables, fake version strings through the real detection code, and the
rules wired into `pgiam refresh` (a real child process; signing is local, no network)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import stat
from pathlib import Path

import pytest

from pgiam.host.libpq_version import detect, format_version, parse_version
from pgiam.libpq import rules as rules
from tests.conftest import Cli

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"


# --------------------------------------------------------------------------- parsing version strings


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("PostgreSQL 15.18 (Debian 15.18-0+deb12u1)", (15, 18)),  # pg_config --version
        ("psql (PostgreSQL) 16.2 (Homebrew)", (16, 2)),  # psql --version
        ("PostgreSQL 17devel", (17, 0)),
        ("PostgreSQL 16beta2", (16, 0)),
        ("psql (PostgreSQL) 9.6.24", (9, 624)),
        ("9.6.20", (9, 620)),
        ("9.5.23", (9, 523)),
        ("12.4", (12, 4)),
        ("no version here", None),
        ("", None),
    ],
)
def test_parse_version(text: str, want: tuple[int, int] | None) -> None:
    assert parse_version(text) == want


def test_versions_order_like_releases() -> None:
    texts = ["9.4.26", "9.5.23", "9.5.24", "9.6.19", "9.6.20", "10.14", "10.15", "12.4", "12.5", "13.0",
             "17.2"]
    parsed = [parse_version(t) for t in texts]
    assert parsed == sorted(parsed)  # type: ignore[type-var]
    assert [format_version(v) for v in parsed] == ["9.4.26", "9.5.23", "9.5.24", "9.6.19", "9.6.20", "10.14",
                                                   "10.15", "12.4", "12.5", "13.0", "17.2"]


@pytest.mark.parametrize(("override", "want"), [("12.4", (12, 4)), ("9.6.19", (9, 619)), ("unknown", None)])
def test_env_override_feeds_detection(monkeypatch: pytest.MonkeyPatch, override: str,
                                      want: tuple[int, int] | None) -> None:
    monkeypatch.setenv("PGIAM_LIBPQ_VERSION", override)
    assert detect() == want


# --------------------------------------------------------------------------- pgpass line length

FIXED = ["13.0", "12.5", "11.10", "10.15", "9.6.20", "9.5.24", "14.0", "17.2"]
NOT_FIXED = ["12.4", "11.9", "10.14", "9.6.19", "9.5.23", "9.4.26", "9.3.25"]


@pytest.mark.parametrize("text", FIXED)
def test_long_pgpass_lines_fine_from_the_fixed_releases(text: str) -> None:
    v = parse_version(text)
    assert rules.unlimited_pgpass_lines(v) is True
    assert rules.pgpass_line_limit_ok(v, 5000)
    assert rules.pgpass_line_problem(v, "demo", 5000) is None


@pytest.mark.parametrize("text", NOT_FIXED)
def test_long_pgpass_lines_refused_before_them(text: str) -> None:
    v = parse_version(text)
    assert rules.unlimited_pgpass_lines(v) is False
    assert rules.pgpass_line_limit_ok(v, 318)
    assert not rules.pgpass_line_limit_ok(v, 319)
    msg = rules.pgpass_line_problem(v, "demo", 900)
    assert msg is not None and "900 bytes" in msg and format_version(v) in msg
    assert "pgiam exec demo -- psql" in msg and "upgrade libpq" in msg


def test_unknown_version_is_not_refused() -> None:
    assert rules.pgpass_line_limit_ok(None, 5000)
    assert rules.unknown_stanza_keys(None, ["sslnegotiation", "nonsense"]) == []
    assert rules.supports_sslrootcert_system(None) is None


# --------------------------------------------------------------------------- stanza keywords


@pytest.mark.parametrize(
    ("text", "keys", "unknown"),
    [
        ("9.6.24", ["host", "passfile", "sslmode"], ["passfile"]),
        ("10.0", ["host", "passfile"], []),
        ("15.4", ["require_auth", "sslnegotiation"], ["require_auth", "sslnegotiation"]),
        ("16.0", ["require_auth", "sslnegotiation"], ["sslnegotiation"]),
        ("17.0", ["require_auth", "sslnegotiation"], []),
        ("15.4", ["sslmdoe"], ["sslmdoe"]),  # a typo is unknown to every libpq this table covers
        ("19.0", ["some_future_keyword"], []),  # newer than the table: not called unknown
        ("13.2", ["host", "host", "sslsni"], ["sslsni"]),
    ],
)
def test_unknown_stanza_keys(text: str, keys: list[str], unknown: list[str]) -> None:
    assert rules.unknown_stanza_keys(parse_version(text), keys) == unknown


def test_stanza_problem_names_key_and_version() -> None:
    params = [("host", HOST), ("sslmode", "verify-full"), ("sslnegotiation", "direct")]
    msg = rules.stanza_problem((16, 4), "demo", params)
    assert msg is not None
    assert "sslnegotiation (needs libpq 17)" in msg and "16.4" in msg and "[demo]" in msg
    assert rules.stanza_problem((17, 0), "demo", params) is None


@pytest.mark.parametrize(("text", "ok"), [("15.18", False), ("16.0", True), ("17.2", True)])
def test_sslrootcert_system_needs_16(text: str, ok: bool) -> None:
    v = parse_version(text)
    assert rules.supports_sslrootcert_system(v) is ok
    msg = rules.stanza_problem(v, "demo", [("host", HOST), ("sslrootcert", "system")])
    assert (msg is None) is ok
    if msg:
        assert "needs libpq 16" in msg


def test_service_line_limits() -> None:
    assert rules.service_line_max((13, 9)) == 253
    assert rules.service_line_max((14, 0)) == 1021
    assert rules.service_line_max(None) == 253


def test_libpq_home_rule() -> None:
    assert rules.libpq_home((14, 11), "/env/home", "/pw/home") == "/pw/home"
    assert rules.libpq_home((15, 0), "/env/home", "/pw/home") == "/env/home"
    assert rules.libpq_home((15, 0), None, "/pw/home") == "/pw/home"
    assert rules.libpq_home((9, 624), "/env/home", "/pw/home") == "/pw/home"


# --------------------------------------------------------------------------- against the real libpq


def _real_libpq() -> ctypes.CDLL:
    name = ctypes.util.find_library("pq")
    if name is None:
        pytest.fail("libpq (libpq.so.5) not found; .ci/run installs postgresql-client")
    return ctypes.CDLL(name)


class _ConnOpt(ctypes.Structure):
    _fields_ = [("keyword", ctypes.c_char_p), ("envvar", ctypes.c_char_p), ("compiled", ctypes.c_char_p),
                ("val", ctypes.c_char_p), ("label", ctypes.c_char_p), ("dispchar", ctypes.c_char_p),
                ("dispsize", ctypes.c_int)]


@pytest.mark.pg
def test_keyword_table_matches_the_local_libpq() -> None:
    """Our table, asked about the local libpq's version, lists exactly the keywords it accepts."""
    lib = _real_libpq()
    lib.PQlibVersion.restype = ctypes.c_int
    lib.PQconndefaults.restype = ctypes.POINTER(_ConnOpt)
    lib.PQconninfoFree.argtypes = [ctypes.POINTER(_ConnOpt)]
    version = divmod(lib.PQlibVersion(), 10000)
    opts = lib.PQconndefaults()
    real = set()
    i = 0
    while opts[i].keyword:
        real.add(opts[i].keyword.decode())
        i += 1
    lib.PQconninfoFree(opts)
    assert rules.known_keywords(version) == real
    # and the tool-based detection agrees with the library itself
    assert detect() == version


# --------------------------------------------------------------------------- wired into refresh


def _config(home: Path, extra: str = "") -> None:
    cfg = home / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(f'[services.demo]\nhost = "{HOST}"\nuser = "jane_doe"\n{extra}')


def _fake_tool(bin_dir: Path, name: str, output: str, marker: Path | None = None) -> None:
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / name
    touch = f'touch "{marker}"\n' if marker else ""
    script.write_text(f"#!/bin/sh\n{touch}echo '{output}'\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def test_old_libpq_refuses_a_long_token_line(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    _config(isolated_env)
    r = cli("refresh", env={"PGIAM_LIBPQ_VERSION": "12.4"})
    assert r.code == 1, r.err
    assert "demo:" in r.err and "libpq 12.4 reads only 318 bytes" in r.err
    assert "pgiam exec demo -- psql" in r.err
    assert not (isolated_env / ".pgpass").exists()
    assert not (isolated_env / ".pg_service.conf").exists()
    # the first release with unlimited lines writes it
    r = cli("refresh", env={"PGIAM_LIBPQ_VERSION": "12.5"})
    assert r.code == 0, r.err
    line = (isolated_env / ".pgpass").read_bytes()
    assert line.startswith(f"{HOST}:5432:jane_doe:jane_doe:{HOST}\\:5432/?".encode()) and len(line) > 319


def test_fake_pg_config_on_path_is_what_detection_reads(cli: Cli, isolated_env: Path, tmp_path: Path) -> None:
    """No override: the version comes from `pg_config --version`, else `psql --version`."""
    cli.static_keys()
    _config(isolated_env)
    bin_dir = tmp_path / "bin"
    _fake_tool(bin_dir, "psql", "psql (PostgreSQL) 15.18")
    _fake_tool(bin_dir, "pg_config", "PostgreSQL 9.6.19")
    r = cli("refresh", env={"PATH": str(bin_dir)})
    assert r.code == 1 and "libpq 9.6.19 reads only 318 bytes" in r.err, r.err
    (bin_dir / "pg_config").unlink()  # psql is the fallback
    r = cli("refresh", env={"PATH": str(bin_dir)})
    assert r.code == 0, r.err


def test_stanza_key_unknown_to_local_libpq_fails_before_writing(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    _config(isolated_env, 'libpq = { sslnegotiation = "direct" }\n')
    r = cli("refresh", env={"PGIAM_LIBPQ_VERSION": "16.4"})
    assert r.code == 1, r.err
    assert "sslnegotiation (needs libpq 17)" in r.err and ".pg_service.conf" in r.err
    assert not (isolated_env / ".pgpass").exists()
    assert not (isolated_env / ".pg_service.conf").exists()
    r = cli("refresh", env={"PGIAM_LIBPQ_VERSION": "17.0"})
    assert r.code == 0, r.err
    assert "sslnegotiation=direct\n" in (isolated_env / ".pg_service.conf").read_text()


def test_sslrootcert_system_refused_on_libpq_15(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    _config(isolated_env, 'sslrootcert = "system"\n')
    r = cli("refresh", env={"PGIAM_LIBPQ_VERSION": "15.18"})
    assert r.code == 1 and "sslrootcert=system in [demo] needs libpq 16" in r.err, r.err
    assert not (isolated_env / ".pgpass").exists()
    r = cli("refresh", env={"PGIAM_LIBPQ_VERSION": "16.0"})
    assert r.code == 0, r.err


def _pg_config_first_on_path(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A fake `pg_config` (libpq 15.18) first on PATH, which touches a marker file when it runs:
    (its directory, the marker, the environment putting it on PATH)."""
    bin_dir = tmp_path / "bin"
    marker = tmp_path / "pg_config-ran"
    _fake_tool(bin_dir, "pg_config", "PostgreSQL 15.18", marker=marker)
    return bin_dir, marker, {"PATH": str(bin_dir) + os.pathsep + os.environ.get("PATH", "")}


def test_noop_refresh_never_runs_version_detection(cli: Cli, isolated_env: Path, tmp_path: Path) -> None:
    cli.static_keys()
    _config(isolated_env)
    _, marker, env = _pg_config_first_on_path(tmp_path)
    assert cli("refresh", env=env).code == 0
    assert marker.exists()  # the writing run asked pg_config (so the marker works)
    marker.unlink()
    r = cli("refresh", env=env)
    assert r.code == 0 and r.out == "" and r.err == ""
    assert not marker.exists()


def test_the_version_found_is_remembered_until_the_tool_changes(cli: Cli, isolated_env: Path, tmp_path: Path) -> None:
    """A writing run asks pg_config once; later runs recall its answer (15-40 ms each saved) until the
    tool on PATH is another file (an upgrade), and then they obey the new version."""
    cli.static_keys()
    _config(isolated_env)
    bin_dir, marker, env = _pg_config_first_on_path(tmp_path)
    assert cli("refresh", env=env).code == 0
    assert marker.exists()
    marker.unlink()
    r = cli("refresh", "--force", env=env)
    assert r.code == 0, r.err
    assert not marker.exists(), "the remembered version was not used"
    # a cluster choice of the user's (Debian's psql wrapper reads ~/.postgresqlrc): asked again
    (isolated_env / ".postgresqlrc").write_text("15 main *\n")
    assert cli("refresh", "--force", env=env).code == 0
    assert marker.exists(), "a new ~/.postgresqlrc did not make pgiam ask pg_config again"
    marker.unlink()
    # an older client replaces the tool: asked again, and its limit applies
    (bin_dir / "pg_config").unlink()
    _fake_tool(bin_dir, "pg_config", "PostgreSQL 9.6.19", marker=marker)
    r = cli("refresh", "--force", env=env)
    assert r.code == 1 and "libpq 9.6.19 reads only 318 bytes" in r.err, r.err
    assert marker.exists()
    # a memo that is not what pgiam wrote is ignored (the tool is asked)
    memo = isolated_env / ".local" / "state" / "pgiam" / "libpq-version.json"
    memo.write_text("{not json")
    marker.unlink()
    r = cli("refresh", "--force", env=env)
    assert r.code == 1 and "libpq 9.6.19" in r.err and marker.exists()
