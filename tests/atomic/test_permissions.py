"""Permissions, ownership and symlink safety through the CLI (issue items 4 and 5).

Other owners are real: a user created with useradd (root) or root-owned files (ordinary user)."""

from __future__ import annotations

import contextlib
import grp
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.helpers_fs import is_root, other_user, temp_files, umask

if os.name == "nt":  # pragma: no cover
    pytest.skip("POSIX-only", allow_module_level=True)

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"


def mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def add(cli: Cli, name: str = "perm", env: dict[str, str] | None = None) -> tuple[int, str, str]:
    cli.static_keys()
    r = cli("add", name, "--host", HOST, "--user", "u_" + name, "--sslmode", "require", env=env)
    return r.code, r.out, r.err


def test_pgpass_0600_under_umask_000_and_service_file_follows_umask(cli: Cli, isolated_env: Path) -> None:
    with umask(0):
        code, _, err = add(cli)
        assert code == 0, err
        assert mode(isolated_env / ".pgpass") == 0o600
        assert mode(isolated_env / ".pg_service.conf") == 0o644
        assert cli("refresh", "--force").code == 0
    assert mode(isolated_env / ".pgpass") == 0o600
    for lock in isolated_env.glob(".*.pgiam.lock"):
        assert mode(lock) == 0o600
    state = list((isolated_env / ".local" / "state").rglob("*.json"))
    assert state and all(mode(s) == 0o600 for s in state)


@pytest.mark.parametrize("bad", [0o644, 0o640, 0o604])
def test_open_pgpass_fixed_to_0600_with_one_notice(cli: Cli, isolated_env: Path, bad: int) -> None:
    pgpass = isolated_env / ".pgpass"
    pgpass.write_bytes(b"other:5432:db:u:pw\n")
    pgpass.chmod(bad)
    code, _, err = add(cli)  # writes a new entry
    assert code == 0, err
    assert mode(pgpass) == 0o600
    notes = [ln for ln in err.splitlines() if "0600" in ln]
    assert len(notes) == 1 and f"{bad:04o}" in notes[0] and str(pgpass) in notes[0], err
    # nothing to write (token fresh), but a chmod'ed-open file is fixed again, with one notice
    pgpass.chmod(bad)
    before = pgpass.read_bytes()
    r = cli("refresh")
    assert r.code == 0 and mode(pgpass) == 0o600 and pgpass.read_bytes() == before
    assert len([ln for ln in r.err.splitlines() if "0600" in ln]) == 1, r.err
    assert "0600" not in cli("refresh", "--force").err  # and no notice once it is right


def test_service_file_keeps_mode_owner_and_group(cli: Cli, isolated_env: Path) -> None:
    services = isolated_env / ".pg_service.conf"
    pgpass = isolated_env / ".pgpass"
    services.write_bytes(b"[x]\nhost=y\n")
    pgpass.write_bytes(b"")
    services.chmod(0o640)
    pgpass.chmod(0o600)
    if is_root():  # root can give its files any group: prove the group survives the rename
        _, gid = other_user()
        for p in (services, pgpass):
            os.chown(p, 0, gid)
    owner = {p: (os.stat(p).st_uid, os.stat(p).st_gid) for p in (services, pgpass)}
    code, _, err = add(cli)
    assert code == 0, err
    assert mode(services) == 0o640 and mode(pgpass) == 0o600
    assert {p: (os.stat(p).st_uid, os.stat(p).st_gid) for p in (services, pgpass)} == owner
    assert b"[perm]" in services.read_bytes()
    if is_root():
        assert grp.getgrgid(owner[services][1]).gr_gid != 0


def test_temp_files_never_wider_than_0600(cli: Cli, isolated_env: Path) -> None:
    """Watch the temp files of a slowed-down write (PGIAM_TEST_WRITE_DELAY) while they exist."""
    services = isolated_env / ".pg_service.conf"
    pgpass = isolated_env / ".pgpass"
    services.write_bytes(b"".join(b"[s%04d]\nhost=h%04d.example.com\n\n" % (i, i) for i in range(600)))
    services.chmod(0o644)
    pgpass.write_bytes(b"".join(b"h%05d:5432:db:u:pw\n" % i for i in range(1000)))
    pgpass.chmod(0o600)
    cli.static_keys()
    cfg = isolated_env / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f'[services.watch]\nhost = "{HOST}"\nuser = "w"\nsslmode = "require"\n')
    seen: dict[str, set[tuple[int, int]]] = {}
    with umask(0):
        proc = subprocess.Popen([sys.executable, "-m", "pgiam", "refresh"], cwd=str(isolated_env),
                                env=cli.environ({"PGIAM_TEST_WRITE_DELAY": "0.02"}),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        for name in temp_files(isolated_env):
            with contextlib.suppress(FileNotFoundError):
                st = os.lstat(isolated_env / name)
                key = name.split(".pgiam-tmp-")[0]
                seen.setdefault(key, set()).add((stat.S_IMODE(st.st_mode), st.st_size))
        time.sleep(0.002)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert set(seen) == {"..pgpass", "..pg_service.conf"}, seen  # both writes were observed
    # both temp files are 0600 all along; the service file gets its own 0644 back only after the
    # rename, when it is no longer a temp file
    assert {m for m, _ in seen["..pgpass"]} == {0o600}, seen
    assert {m for m, _ in seen["..pg_service.conf"]} == {0o600}, seen
    assert mode(services) == 0o644 and mode(pgpass) == 0o600


def test_symlink_to_own_file_written_through(cli: Cli, isolated_env: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    real = store / "pgpass"
    real.write_bytes(b"mine:5432:db:u:pw\n")
    real.chmod(0o600)
    (isolated_env / ".pgpass").symlink_to(real)
    code, _, err = add(cli)
    assert code == 0, err
    assert (isolated_env / ".pgpass").is_symlink()
    data = real.read_bytes()
    assert data.startswith(b"mine:5432:db:u:pw\n") and b"X-Amz-Signature=" in data
    assert mode(real) == 0o600


def _foreign_file(base: Path, uid: int) -> Path:
    f = base / "theirs"
    f.write_bytes(b"their:5432:db:u:secret\n")
    f.chmod(0o600)
    if is_root():
        os.chown(f, uid, -1)
    return f


def _assert_refused(code: int, err: str, target: Path, before: bytes) -> None:
    assert code == 1, err
    line = [ln for ln in err.splitlines() if "refusing" in ln]
    assert len(line) == 1 and "owned by" in line[0], err
    assert target.read_bytes() == before


def test_symlink_to_another_users_file_refused(cli: Cli, isolated_env: Path, tmp_path: Path) -> None:
    if is_root():
        uid, _ = other_user()
        base = Path(tempfile.mkdtemp(prefix="pgiam-foreign-"))
        target = _foreign_file(base, uid)
    else:
        base, target = None, Path("/etc/passwd")  # root's file; an ordinary user must be refused
    try:
        before = target.read_bytes()
        (isolated_env / ".pgpass").symlink_to(target)
        code, _, err = add(cli)
        _assert_refused(code, err, target, before)
        assert os.stat(target).st_uid != os.geteuid()
    finally:
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)


@pytest.mark.skipif(not is_root(), reason="only root can create a symlink owned by another user")
def test_symlink_owned_by_another_user_refused(cli: Cli, isolated_env: Path, tmp_path: Path) -> None:
    uid, _ = other_user()
    mine = tmp_path / "mine"
    mine.write_bytes(b"m:5432:db:u:pw\n")
    mine.chmod(0o600)
    link = isolated_env / ".pgpass"
    link.symlink_to(mine)
    os.lchown(link, uid, -1)
    code, _, err = add(cli)
    _assert_refused(code, err, mine, b"m:5432:db:u:pw\n")


@pytest.mark.skipif(not is_root(), reason="the bastion attack needs root and a real second user")
def test_bastion_attack_root_never_writes_a_users_symlink_target(cli: Cli, tmp_path: Path) -> None:
    """A user points ~/.pgpass at a root-only file; root then refreshes with HOME at that user's home."""
    uid, gid = other_user()
    secret_dir = Path(tempfile.mkdtemp(prefix="pgiam-shadow-"))
    home = Path(tempfile.mkdtemp(prefix="pgiam-victim-home-"))
    try:
        shadow = secret_dir / "shadow"  # stands in for /etc/shadow: root-owned, 0640
        shadow.write_bytes(b"root:$6$hash:19000:0:99999:7:::\n")
        shadow.chmod(0o640)
        cfg = home / ".config" / "pgiam" / "config.toml"
        cfg.parent.mkdir(parents=True)
        cfg.write_text(f'[services.evil]\nhost = "{HOST}"\nuser = "u"\nsslmode = "require"\n')
        (home / ".pgpass").symlink_to(shadow)
        for p in [home, *home.rglob("*")]:
            os.lchown(p, uid, gid)
        before = shadow.read_bytes()
        cli.static_keys()
        r = cli("refresh", env={"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                                "XDG_STATE_HOME": str(tmp_path / "state")})
        assert r.code == 1, r.err
        assert "refusing" in r.err and len([ln for ln in r.err.splitlines() if "refusing" in ln]) == 1
        assert shadow.read_bytes() == before and mode(shadow) == 0o640 and os.stat(shadow).st_uid == 0
        assert temp_files(secret_dir) == [] and temp_files(home) == []
    finally:
        shutil.rmtree(secret_dir, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.skipif(not is_root(), reason="needs a directory chown'ed to another user")
def test_root_never_creates_files_in_another_users_directory(cli: Cli, tmp_path: Path) -> None:
    uid, gid = other_user()
    base = Path(tempfile.mkdtemp(prefix="pgiam-theirdir-"))
    try:
        base.chmod(0o755)
        theirs = base / "d"
        theirs.mkdir()
        os.chown(theirs, uid, gid)
        cli.static_keys()
        r = cli("add", "perm", "--host", HOST, "--user", "u", "--sslmode", "require",
                env={"PGPASSFILE": str(theirs / "pgpass")})
        assert r.code == 1, r.err
        assert "as root" in r.err and "owned by" in r.err
        assert os.listdir(theirs) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)
