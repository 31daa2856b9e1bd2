"""Locks and temp files (issue 11, item 6), through the real CLI.

Nothing of pgiam's appears beside the user's files: locks live in pgiam's state directory
(`locks/<sha256 of the target's real path, 32 hex>.lock`), a killed run's temp file is removed by the
next run of any kind, `schedule remove` deletes no lock, and exclusion still holds between pgiam
processes: the same user's runs, a root `--user` run and the user's own, and an older pgiam that
locks `.NAME.pgiam.lock` beside the target.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.helpers_fs import keys_in_aws_files, temp_files
from tests.users import alice, popen_as, run_as, stop_group  # noqa: F401  (alice is a fixture)

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"
SERVICE = f'[services.s1]\nhost = "{HOST}"\nuser = "u1"\nsslmode = "require"\n'


def configure(home: Path) -> None:
    cfg = home / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(SERVICE)


def lock_path(state_home: Path, target: Path) -> Path:
    """The lock of ``target`` (the naming is a contract between pgiam versions)."""
    digest = hashlib.sha256(os.path.realpath(target).encode()).hexdigest()[:32]
    return state_home / "pgiam" / "locks" / f"{digest}.lock"


@contextmanager
def held(path: Path) -> Iterator[None]:
    """flock ``path`` as another pgiam (or filelock) would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# atomic.py's test hook: slow down only the pgpass write (the one these tests watch)
SLOW_PGPASS = {"PGIAM_TEST_WRITE_DELAY": "1", "PGIAM_TEST_WRITE_DELAY_ONLY": ".pgpass"}


def start(cli: Cli, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "pgiam", *args], env=cli.environ(env), cwd=str(cli.home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(cond: object, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.005)
    raise AssertionError("timed out")


def test_nothing_beside_the_users_files(cli: Cli, isolated_env: Path, tmp_path: Path) -> None:
    cli.static_keys()
    assert cli("add", "s1", "--host", HOST, "--user", "u1", "--sslmode", "require").code == 0
    assert cli("refresh", "--force").code == 0
    assert cli("status").code == 0
    assert sorted(os.listdir(isolated_env)) == [".config", ".local", ".pg_service.conf", ".pgpass"]
    # a pgpass kept in a dotfiles checkout: nothing of pgiam's appears there either
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    os.replace(isolated_env / ".pgpass", dotfiles / "pgpass")
    (isolated_env / ".pgpass").symlink_to(dotfiles / "pgpass")
    r = cli("refresh", "--force", env={"AWS_SECRET_ACCESS_KEY": "another-throwaway-secret"})  # a new token
    assert r.code == 0, r.err
    assert os.listdir(dotfiles) == ["pgpass"]
    assert lock_path(isolated_env / ".local" / "state", dotfiles / "pgpass").is_file()


@pytest.mark.parametrize("verb", [["status"], ["refresh"], ["completion", "bash"]])
def test_killed_runs_temp_file_removed_by_next_run_of_any_kind(
    cli: Cli, isolated_env: Path, verb: list[str]
) -> None:
    cli.static_keys()
    assert cli("add", "s1", "--host", HOST, "--user", "u1", "--sslmode", "require").code == 0
    pgpass = isolated_env / ".pgpass"
    before = pgpass.read_bytes()
    mtime = pgpass.stat().st_mtime_ns
    # another secret: the forced refresh signs a different token, so it really writes
    proc = start(cli, "refresh", "--force", env={**SLOW_PGPASS, "PGIAM_TEST_WRITE_DELAY": "3",
                                                 "AWS_SECRET_ACCESS_KEY": "another-throwaway-secret"})
    wait_for(lambda: any(n.startswith("..pgpass") for n in temp_files(isolated_env)))
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert [n for n in temp_files(isolated_env) if n.startswith("..pgpass")]  # a copy of pgpass, left behind
    r = cli(*verb)  # status, a no-op refresh (the token is still fresh) or anything else
    assert r.code == 0, r.err
    assert temp_files(isolated_env) == []
    assert pgpass.read_bytes() == before and pgpass.stat().st_mtime_ns == mtime  # the no-op wrote nothing
    assert os.listdir(isolated_env / ".local" / "state" / "pgiam" / "pending") == []


def test_a_writer_still_alive_keeps_its_temp_file(cli: Cli, isolated_env: Path) -> None:
    """The sweep removes only temp files whose writer is gone (it would hold the target's lock)."""
    cli.static_keys()
    configure(isolated_env)
    proc = start(cli, "refresh", env={**SLOW_PGPASS, "PGIAM_TEST_WRITE_DELAY": "0.8"})
    wait_for(lambda: any(n.startswith("..pgpass") for n in temp_files(isolated_env)))
    assert cli("status").code == 1  # sweeps while the writer holds the lock (its entry is not there yet)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert b"X-Amz-Signature" in (isolated_env / ".pgpass").read_bytes()
    assert temp_files(isolated_env) == []


def test_older_pgiams_lock_beside_the_target_still_excludes(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    configure(isolated_env)
    pgpass = isolated_env / ".pgpass"
    with held(isolated_env / "..pgpass.pgiam.lock"):  # an older pgiam is writing pgpass
        proc = start(cli, "refresh")
        time.sleep(1.0)
        assert proc.poll() is None, proc.communicate()
        assert not pgpass.exists()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert b"X-Amz-Signature" in pgpass.read_bytes()


def test_lock_is_keyed_by_the_real_path(cli: Cli, isolated_env: Path, tmp_path: Path) -> None:
    """Another spelling of the same file (a symlink, --pgpass) waits for the same lock."""
    cli.static_keys()
    configure(isolated_env)
    real = tmp_path / "real" / "pgpass"
    real.parent.mkdir()
    (isolated_env / ".pgpass").symlink_to(real)
    with held(lock_path(isolated_env / ".local" / "state", real)):
        proc = start(cli, "--pgpass", str(isolated_env / ".pgpass"), "refresh")
        time.sleep(1.0)
        assert proc.poll() is None, proc.communicate()
        assert not real.exists()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert b"X-Amz-Signature" in real.read_bytes()


def test_schedule_remove_never_deletes_a_lock(cli: Cli, isolated_env: Path, tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "systemctl").write_text("#!/bin/sh\nexit 0\n")
    (fake / "systemctl").chmod(0o755)
    cli.env["PATH"] = f"{fake}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
    keys_in_aws_files(isolated_env)  # where the scheduled job finds them
    assert cli("add", "s1", "--host", HOST, "--user", "u1", "--sslmode", "require").code == 0
    r = cli("schedule", "install", "--backend", "systemd")
    assert r.code == 0, r.err
    units = isolated_env / ".config" / "systemd" / "user"
    legacy = units / ".pgiam-refresh.service.pgiam.lock"  # left by an older pgiam (which may hold it)
    legacy.touch(0o600)
    locks = isolated_env / ".local" / "state" / "pgiam" / "locks"
    before = sorted(os.listdir(locks))
    r = cli("schedule", "remove", "--backend", "systemd")
    assert r.code == 0, r.err
    assert not (units / "pgiam-refresh.service").exists()
    assert legacy.is_file()
    assert sorted(os.listdir(locks)) == before


@pytest.mark.root
def test_root_user_run_and_the_users_own_run_exclude_each_other(alice: pwd.struct_passwd) -> None:  # noqa: F811
    home = Path(alice.pw_dir)
    # not at the default location: another test suite's `pgiam --all-users` on this machine visits
    # every user with a default config, and would join in
    cfg = home / "pgiam-test" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(SERVICE)
    creds = home / ".aws" / "credentials"  # (root's own AWS settings never reach a --user run)
    creds.parent.mkdir(exist_ok=True)
    creds.write_text("[default]\naws_access_key_id = AKIDLOCKTEST00000001\naws_secret_access_key = s\n")
    for p in (cfg.parent, cfg, creds.parent, creds):
        os.chown(p, alice.pw_uid, alice.pw_gid)
    keys = {"AWS_EC2_METADATA_DISABLED": "true", "PGIAM_SITE_CONFIG": ""}
    # alice's own run, held in its write for a while
    own = popen_as(alice, ["--config", str(cfg), "refresh"],
                   {"HOME": str(home), **SLOW_PGPASS, "PGIAM_TEST_WRITE_DELAY": "1.5", **keys})
    root_run: subprocess.Popen[str] | None = None
    try:
        wait_for(lambda: any(n.startswith("..pgpass") for n in temp_files(home)))
        # root acting for alice meanwhile: must wait for alice's run to finish its write
        from tests.host.test_bastion import interpreter, readable_path

        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PG", "XDG_"))}
        env.update(keys, PYTHONPATH=readable_path(), HOME="/root")
        root_run = subprocess.Popen([*interpreter(), "-m", "pgiam", "--user", alice.pw_name, "--config", str(cfg),
                                     "refresh", "--force"],
                                    env=env, cwd="/", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        assert own.poll() is None and temp_files(home), own.communicate()  # alice's run is still writing ...
        assert root_run.poll() is None, root_run.communicate()  # ... and root's run waits for the lock
        _, err = own.communicate(timeout=60)
        assert own.returncode == 0, err
        _, err = root_run.communicate(timeout=60)
        assert root_run.returncode == 0, err
    finally:
        stop_group(own)
        if root_run is not None and root_run.poll() is None:
            root_run.kill()
            root_run.communicate()
    assert sorted(n for n in os.listdir(home) if "pgiam" in n) == ["pgiam-test"]
    assert b"X-Amz-Signature" in (home / ".pgpass").read_bytes()
    locks = home / ".local" / "state" / "pgiam" / "locks"
    assert all(p.stat().st_uid == alice.pw_uid for p in locks.iterdir())
    assert run_as(alice, ["--config", str(cfg), "status"], {"HOME": str(home), "PGIAM_SITE_CONFIG": ""}).returncode == 0
    shutil.rmtree(home / ".local", ignore_errors=True)


@pytest.mark.root
def test_read_only_home_falls_back_to_a_lock_beside_the_target(
    alice: pwd.struct_passwd,  # noqa: F811
) -> None:
    """A home pgiam cannot write (a locked-down service account): pgiam still writes a pgpass kept
    elsewhere, locking beside it as older versions did (every version takes that lock too)."""
    base = Path(tempfile.mkdtemp(prefix="pgiam-rohome-"))  # (tmp_path's parents are root's 0700)
    base.chmod(0o755)
    home = base / "ro-home"  # root's, 0755: alice can read it, not write it
    home.mkdir()
    home.chmod(0o755)
    cfg = home / "config.toml"
    cfg.write_text(SERVICE)
    cfg.chmod(0o644)
    writable = base / "w"
    writable.mkdir()
    os.chown(writable, alice.pw_uid, alice.pw_gid)
    env = {"HOME": str(home), "PGPASSFILE": str(writable / "pgpass"), "PGSERVICEFILE": str(writable / "svc"),
           "AWS_ACCESS_KEY_ID": "AKIDLOCKTEST00000002", "AWS_SECRET_ACCESS_KEY": "s",
           "AWS_EC2_METADATA_DISABLED": "true", "PGIAM_SITE_CONFIG": "", "PGIAM_CONFIG": str(cfg)}
    r = run_as(alice, ["refresh"], env)
    assert r.returncode == 0, r.stderr
    assert b"X-Amz-Signature" in (writable / "pgpass").read_bytes()
    assert sorted(os.listdir(writable)) == [".pgiam-reconcile.lock", ".pgpass.pgiam.lock", ".svc.pgiam.lock", "pgpass",
                                           "svc"]
    assert os.listdir(home) == ["config.toml"]
    shutil.rmtree(base)
