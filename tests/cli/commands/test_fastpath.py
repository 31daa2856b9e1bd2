"""The no-op gate (pgiam/fastpath.py) through the real `python -m pgiam`: it answers only when nothing
that could change the full refresh's answer has changed, and every such change takes the full path.

Evidence that the full path ran: only it writes the record (beside the state file), and every record
carries the time it was taken, so a full run always leaves different bytes; a gate hit leaves the
record untouched. Where the full path has work to do, the renewed token is the evidence.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest

from tests.conftest import TEST_SECRET, Cli

HOST = "db{i}.abcdefghijkl.eu-west-1.rds.amazonaws.com"
LIBFAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1") + glob.glob("/usr/lib/faketime/libfaketime.so*"))


def config(home: Path) -> Path:
    return home / ".config" / "pgiam" / "config.toml"


@pytest.fixture(autouse=True)
def _real_processes(cli: Cli) -> None:
    """The gate runs before main(): every run here is a real `python -m pgiam`."""
    cli.real = True


def records(home: Path) -> list[Path]:
    return sorted((home / ".local" / "state" / "pgiam").glob("state.json.fastpath-*"))


def record(home: Path) -> Path:
    """The one record (there is one per command line and environment)."""
    found = records(home)
    assert len(found) == 1, found
    return found[0]


def write_config(home: Path, services: int = 3) -> None:
    cfg = config(home)
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text("".join(f'[services.s{i}]\nhost = "{HOST.format(i=i)}"\nuser = "app"\n\n'
                           for i in range(services)))


def rec(home: Path) -> dict[str, bytes] | None:
    """Every record's bytes (None when there is none): a full run always rewrites or removes one."""
    return {p.name: p.read_bytes() for p in records(home)} or None


@pytest.fixture
def primed(cli: Cli, isolated_env: Path) -> Path:
    """Three fresh services; the second refresh (a full no-op) has recorded; a third is a gate hit."""
    home = isolated_env
    write_config(home)
    cli.static_keys()
    r = cli("refresh")
    assert r.code == 0 and r.out.count("refreshed") == 3, r.err
    assert rec(home) is None  # that run wrote files: nothing recorded
    r = cli("refresh")
    assert (r.code, r.out, r.err) == (0, "", "")
    first = rec(home)
    assert first is not None
    r = cli("refresh")
    assert (r.code, r.out, r.err) == (0, "", "") and rec(home) == first  # the gate answered
    return home


def hit(cli: Cli, home: Path, *args: str, env: dict[str, str] | None = None) -> bool:
    """Run `pgiam refresh`; True when the gate answered (the record is untouched)."""
    before = rec(home)
    r = cli(*(args or ("refresh",)), env=env)
    assert r.code == 0, r.err
    return rec(home) == before and before is not None


def test_the_record_holds_no_secret_and_is_private(primed: Path) -> None:
    text = record(primed).read_text()
    assert TEST_SECRET not in text and "AWS_SECRET_ACCESS_KEY', '<set>'" in text
    assert os.stat(record(primed)).st_mode & 0o777 == 0o600


@pytest.mark.parametrize("which", ["config", "pgpass", "service file", "state", "site config"])
def test_touching_any_input_takes_the_full_path(cli: Cli, isolated_env: Path, tmp_path: Path, which: str) -> None:
    site = tmp_path / "site.toml"
    site.write_text("[defaults]\nrefresh_before = 300\n")
    cli.env["PGIAM_SITE_CONFIG"] = str(site)
    home = isolated_env
    write_config(home)
    cli.static_keys()
    cli("refresh")
    cli("refresh")
    assert hit(cli, home)
    path = {"config": config(home), "pgpass": home / ".pgpass", "service file": home / ".pg_service.conf",
            "state": home / ".local" / "state" / "pgiam" / "state.json", "site config": site}[which]
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert not hit(cli, home)
    assert hit(cli, home)  # and the full path recorded the new state


def test_a_config_edit_is_acted_on(cli: Cli, primed: Path) -> None:
    write_config(primed, services=4)
    r = cli("refresh")
    assert r.code == 0 and r.out.strip().startswith("s3: refreshed"), (r.out, r.err)


def test_a_shadowing_pgpass_line_is_acted_on(cli: Cli, primed: Path) -> None:
    pgpass = primed / ".pgpass"
    shadow = f"{HOST.format(i=1)}:5432:app:app:a-password-that-is-not-a-token\n".encode()
    pgpass.write_bytes(shadow + pgpass.read_bytes())
    r = cli("refresh")  # the full path ran: a line the user wrote for s1's connection is never taken
    assert r.code == 1 and "s1: pgpass line 1" in r.err and "not written by pgiam" in r.err, (r.out, r.err)
    assert pgpass.read_bytes().startswith(shadow)


def test_a_wildcard_line_takes_the_full_path(cli: Cli, primed: Path) -> None:
    pgpass = primed / ".pgpass"
    pgpass.write_bytes(b"*:*:*:*:a-password-that-is-not-a-token\n" + pgpass.read_bytes())
    assert not hit(cli, primed)  # (what the full path makes of it is the full path's business)


def test_a_removed_token_is_renewed(cli: Cli, primed: Path) -> None:
    pgpass = primed / ".pgpass"
    lines = pgpass.read_text().splitlines(keepends=True)
    pgpass.write_text("".join(lines[1:]))
    r = cli("refresh")
    assert r.code == 0 and r.out.count("refreshed") == 1, (r.out, r.err)


@pytest.mark.parametrize("var", ["PGPASSFILE", "PGSERVICEFILE", "PGIAM_CONFIG", "PGIAM_STATE", "XDG_CONFIG_HOME",
                                 "XDG_STATE_HOME", "HOME", "PGIAM_SITE_CONFIG", "PGSYSCONFDIR", "AWS_PROFILE",
                                 "AWS_REGION", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
                                 "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN", "PGIAM_LIBPQ_VERSION"])
def test_each_relevant_variable_takes_the_full_path(cli: Cli, primed: Path, var: str) -> None:
    home = primed
    same = {  # values that keep every file where it was (so the full path finds everything fresh)
        "PGPASSFILE": str(home / ".pgpass"), "PGSERVICEFILE": str(home / ".pg_service.conf"),
        "PGIAM_CONFIG": str(config(home)), "PGIAM_STATE": str(home / ".local/state/pgiam/state.json"),
        "XDG_CONFIG_HOME": str(home / ".config") + "/", "XDG_STATE_HOME": str(home / ".local/state") + "/",
        "HOME": str(home) + "/", "PGIAM_SITE_CONFIG": "/nonexistent/pgiam-site.toml",
        "PGSYSCONFDIR": "/nonexistent", "AWS_PROFILE": "default", "AWS_REGION": "eu-west-1",
        "AWS_CONFIG_FILE": str(home / ".aws/other-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws/other-credentials"),
        "AWS_ACCESS_KEY_ID": "AKIDPGIAMTEST0000002", "AWS_SESSION_TOKEN": "a-session-token",
        "PGIAM_LIBPQ_VERSION": "16.2",
    }
    assert not hit(cli, home, env={var: same[var]})
    assert hit(cli, home, env={var: same[var]})  # recorded under the new value (a record of its own)
    assert hit(cli, home)  # and back: the first record still answers


def test_other_command_lines_take_the_full_path(cli: Cli, primed: Path) -> None:
    r = cli("refresh", "-v")
    assert r.code == 0 and r.out.count("fresh") == 3  # the full path's --verbose lines
    r = cli("refresh", "s0", "-v")
    assert r.code == 0 and r.out.count("fresh") == 1
    assert not hit(cli, primed, "refresh", "--quiet")  # another recorded form
    assert hit(cli, primed, "refresh", "--quiet")
    assert not hit(cli, primed, "-q", "refresh")  # (the command line is part of the record)
    assert len(records(primed)) == 3


@pytest.mark.skipif(not LIBFAKETIME, reason="libfaketime (package faketime) is not installed")
def test_the_clock_passing_the_due_time_takes_the_full_path(cli: Cli, primed: Path) -> None:
    def at(offset: str) -> dict[str, str]:
        return {"LD_PRELOAD": LIBFAKETIME[0], "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}

    # 900 s tokens renewed 300 s before expiry: due in ~600 s
    assert hit(cli, primed, env=at("+5m"))
    pgpass = (primed / ".pgpass").read_bytes()
    r = cli("refresh", env=at("+11m"))
    assert r.code == 0 and r.out.count("refreshed") == 3, (r.out, r.err)
    assert (primed / ".pgpass").read_bytes() != pgpass


@pytest.mark.skipif(not LIBFAKETIME, reason="libfaketime (package faketime) is not installed")
def test_a_clock_set_back_takes_the_full_path(cli: Cli, primed: Path) -> None:
    env = {"LD_PRELOAD": LIBFAKETIME[0], "FAKETIME": "-1h", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    assert not hit(cli, primed, env=env)


def test_a_failed_run_removes_the_record(cli: Cli, primed: Path) -> None:
    r = cli("refresh", "-q")
    assert r.code == 0 and len(records(primed)) == 2  # a second record, for `refresh -q`
    # credentials that only fail once the clock passes the due time: the process provider fails now
    (primed / ".aws").mkdir()
    (primed / ".aws" / "config").write_text("[default]\ncredential_process = /bin/false\n")
    cli.env.pop("AWS_ACCESS_KEY_ID")
    cli.env.pop("AWS_SECRET_ACCESS_KEY")
    assert not hit(cli, primed)  # (other variables: a full run, which records for them)
    (primed / ".pgpass").write_text("")
    (primed / ".pgpass").chmod(0o600)
    before = len(records(primed))
    for _ in range(2):
        r = cli("refresh")
        assert r.code == 1 and r.err.count("pgiam: error:") == 3, r.err  # reported every time
        assert len(records(primed)) == before - 1  # this environment's record is gone


def test_secrets_count_by_presence_only(cli: Cli, primed: Path) -> None:
    """A secret's value cannot change a no-op's answer (fresh tokens stay fresh) and is never recorded;
    its presence is recorded (setting or unsetting one takes the full path: see above)."""
    assert hit(cli, primed, env={"AWS_SECRET_ACCESS_KEY": "another-secret"})
    assert "another-secret" not in record(primed).read_text()


@pytest.mark.parametrize("home", ["/home/a", "/home/a/", "/", "/srv//b"])
def test_the_record_path_follows_the_given_home_as_expanduser_would(monkeypatch: pytest.MonkeyPatch,
                                                                     home: str) -> None:
    """record_path reads HOME from the environment it is given (--all-users passes the user's), and
    says what expanding ~ with that HOME says."""
    from pgiam import fastpath

    monkeypatch.setenv("HOME", home)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.delenv("PGIAM_STATE", raising=False)
    want = os.path.join(os.path.expanduser("~/.local/state"), "pgiam", "state.json" + fastpath.SUFFIX)
    monkeypatch.setenv("HOME", "/elsewhere")
    assert fastpath.record_path({"HOME": home}) == want
