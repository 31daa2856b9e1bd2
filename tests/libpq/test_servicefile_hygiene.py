"""Service-file hygiene through the CLI: line-length limits, an over-long line elsewhere in the file,
no service=/servicefile= inside a stanza, and duplicate [NAME] sections."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Cli

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"


def add(cli: Cli, name: str, *extra: str) -> tuple[int, str, str]:
    cli.static_keys()
    r = cli("add", name, "--host", HOST, "--user", "u_" + name, "--sslmode", "require", *extra)
    return r.code, r.out, r.err


def files(home: Path) -> dict[str, bytes | None]:
    paths = {"pgpass": home / ".pgpass", "services": home / ".pg_service.conf",
             "config": home / ".config" / "pgiam" / "config.toml"}
    return {k: (p.read_bytes() if p.exists() else None) for k, p in paths.items()}


def test_stanza_line_over_1021_bytes_refused_and_nothing_written(cli: Cli, isolated_env: Path) -> None:
    (isolated_env / ".pg_service.conf").write_bytes(b"[other]\nhost=x\n")
    before = files(isolated_env)
    code, _, err = add(cli, "big", "--set", "application_name=" + "a" * 1100)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "1021" in err and "application_name" in err
    assert files(isolated_env) == before  # no config entry, no pgpass token, no stanza


def test_stanza_line_over_253_bytes_warns_but_is_written(cli: Cli, isolated_env: Path) -> None:
    code, out, err = add(cli, "mid", "--set", "application_name=" + "b" * 300)
    assert code == 0, err
    assert "mid: refreshed" in out
    warn = [ln for ln in err.splitlines() if "253" in ln]
    assert len(warn) == 1 and "application_name" in warn[0] and "libpq 13" in warn[0], err
    assert b"application_name=" + b"b" * 300 + b"\n" in (isolated_env / ".pg_service.conf").read_bytes()


def test_existing_over_long_line_elsewhere_is_reported(cli: Cli, isolated_env: Path) -> None:
    services = isolated_env / ".pg_service.conf"
    long_line = b"options=-c search_path=" + b"s" * 1100 + b"\n"
    original = b"[legacy]\nhost=legacy.example.com\n" + long_line
    services.write_bytes(original)
    code, _, err = add(cli, "after")
    assert code == 0, err
    notes = [ln for ln in err.splitlines() if "is 1123 bytes long" in ln]
    assert len(notes) == 1 and "1021" in notes[0] and str(services) in notes[0], err
    # the new stanza goes where libpq reaches it: before the user's over-long line, which stays as it is
    text = services.read_bytes()
    assert text.startswith(b"[after]\n") and text.endswith(b"\n" + original)
    r = cli("refresh")
    assert r.code == 0 and services.read_bytes() == text
    doc = cli("doctor", "--json")
    assert "line 11 is 1123 bytes" in doc.out


def test_service_and_servicefile_keys_refused(cli: Cli, isolated_env: Path) -> None:
    for key in ("service", "servicefile"):
        before = files(isolated_env)
        code, _, err = add(cli, "nested", "--set", f"{key}=x")
        assert code == 2, err
        assert len(err.strip().splitlines()) == 1 and key in err
        assert files(isolated_env) == before
    assert not (isolated_env / ".pg_service.conf").exists()


def test_duplicate_sections_first_edited_duplicate_reported(cli: Cli, isolated_env: Path) -> None:
    services = isolated_env / ".pg_service.conf"
    code, _, err = add(cli, "dup")
    assert code == 0, err
    first = services.read_bytes()
    duplicate = b"\n[dup]\nhost=someone-else.example.com\ndbname=theirs\n"
    services.write_bytes(first + duplicate)
    code, _, err = add(cli, "dup", "--set", "application_name=edited")
    assert code == 0, err
    after = services.read_bytes()
    head, tail = after.split(b"\n\n[dup]\n", 1)
    assert head.endswith(b"\napplication_name=edited")  # the first [dup] (the one libpq reads) was edited
    assert b"\n[dup]\n" + tail == duplicate  # the duplicate is left byte-identical ...
    dup_notes = [ln for ln in err.splitlines() if "another [dup] stanza" in ln]
    assert len(dup_notes) == 1 and "line " in dup_notes[0], err  # ... and reported
