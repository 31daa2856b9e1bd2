"""`pgiam --all-users refresh` and `pgiam --all-users schedule install` with real OS users (root only).

Users are created and removed here (useradd/userdel). Other sessions on the machine may have test users
of their own: assertions look only at the users made here.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgiam.aws import tokeninfo
from tests.host.test_bastion import RUNUSER, interpreter, readable_path, run_pgiam, write_as
from tests.users import os_users

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create OS users (CI runs as root)")

HOST = "db{i}.abcdefghijkl.us-west-2.rds.amazonaws.com"


@pytest.fixture
def three() -> Iterator[list[pwd.struct_passwd]]:
    with os_users(3, "pgiamu") as made:
        yield made


def service(i: int, name: str) -> str:
    return f'[services.{name}]\nhost = "{HOST.format(i=i)}"\nuser = "{name}_db"\n\n'


def creds(user: pwd.struct_passwd) -> str:
    kid = "AKIDALLUSERS" + secrets.token_hex(4).upper()
    write_as(user, Path(user.pw_dir) / ".aws/credentials",
             f"[default]\naws_access_key_id = {kid}\naws_secret_access_key = {secrets.token_urlsafe(24)}\n")
    return kid


def mine(text: str, users: list[pwd.struct_passwd]) -> list[str]:
    names = {u.pw_name for u in users}
    return [ln for ln in text.splitlines() if any(f"user {n}:" in ln or ln.startswith(f"{n}:") for n in names)]


def test_all_users_refresh_visits_each_user_as_that_user(three: list[pwd.struct_passwd], tmp_path: Path) -> None:
    alice, bob, carol = three
    site_dir = Path(tempfile.mkdtemp(prefix="pgiam-site-"))
    try:
        site_dir.chmod(0o755)
        site = site_dir / "config.toml"
        site.write_text('[defaults]\nregion = "us-west-2"\n\n' + service(9, "shared"))
        site.chmod(0o644)
        write_as(alice, Path(alice.pw_dir) / ".config/pgiam/config.toml", service(1, "a1"))
        write_as(bob, Path(bob.pw_dir) / ".config/pgiam/config.toml", service(2, "b1") + service(3, "b2"))
        alice_key = creds(alice)
        # carol has credentials but no pgiam config: not visited
        creds(carol)
        env = {"PGIAM_SITE_CONFIG": str(site), "AWS_ACCESS_KEY_ID": "AKIDROOTMUSTNOTLEAK0",
               "AWS_SECRET_ACCESS_KEY": "root-secret", "AWS_EC2_METADATA_DISABLED": "true", "HOME": "/root"}
        r = run_pgiam(["--all-users", "refresh"], env)
        assert r.returncode == 1, r.stderr
        # bob has no credentials: one line per failing service, each naming him; nothing else of ours
        err = mine(r.stderr, three)
        assert sorted(ln.split(":")[3].strip() for ln in err) == ["b1", "b2", "shared"], r.stderr
        assert all(ln.startswith(f"pgiam: error: user {bob.pw_name}: ") for ln in err), err
        out = mine(r.stdout, three)
        assert sorted(ln.split(":")[1].strip() for ln in out) == ["a1", "shared"], out
        assert all(ln.startswith(f"{alice.pw_name}: ") and ": refreshed (valid until" in ln for ln in out), out
        # alice's files: hers, private, her key signed the tokens (never root's)
        pgpass = Path(alice.pw_dir) / ".pgpass"
        st = pgpass.stat()
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (alice.pw_uid, 0o600)
        lines = pgpass.read_text().splitlines()
        assert len(lines) == 2
        for line in lines:
            info = tokeninfo.decode(line.split(":", 4)[4].replace("\\:", ":"))
            assert info is not None and info.access_key == alice_key
        assert not (Path(carol.pw_dir) / ".pgpass").exists()
        assert not (Path(carol.pw_dir) / ".local").exists()
        assert not (Path(bob.pw_dir) / ".pgpass").exists() or (Path(bob.pw_dir) / ".pgpass").read_text() == ""

        # bob gets credentials: the next pass is clean; then every child answers from its no-op gate
        creds(bob)
        r = run_pgiam(["--all-users", "refresh", "--quiet"], env)
        assert not mine(r.stdout + r.stderr, three), r.stderr
        r = run_pgiam(["--all-users", "refresh", "--quiet"], env)  # full no-op passes: they record
        assert not mine(r.stdout + r.stderr, three)
        records = [p for u in (alice, bob) for p in (Path(u.pw_dir) / ".local/state/pgiam").glob("*.fastpath-*")]
        assert len(records) == 2
        before = [p.read_bytes() for p in records]
        assert [p.stat().st_uid for p in records] == [alice.pw_uid, bob.pw_uid]
        r = run_pgiam(["--all-users", "refresh", "--quiet"], env)
        assert not mine(r.stdout + r.stderr, three)
        assert [p.read_bytes() for p in records] == before  # the gate answered for both
    finally:
        shutil.rmtree(site_dir, ignore_errors=True)


def test_all_users_is_for_root_only(three: list[pwd.struct_passwd]) -> None:
    alice = three[0]
    r = subprocess.run(
        [RUNUSER, "-u", alice.pw_name, "--", *interpreter(), "-m", "pgiam", "--all-users", "refresh"],
        capture_output=True, text=True, timeout=60, check=False, cwd="/",
        env={"HOME": alice.pw_dir, "PATH": "/usr/bin:/bin", "PYTHONPATH": readable_path()},
    )
    assert r.returncode == 2 and "only root" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    r = run_pgiam(["--all-users", "--config", "/x.toml", "refresh"], {})
    assert r.returncode == 2 and "--all-users" in r.stderr
    r = run_pgiam(["--all-users", "status"], {})
    assert r.returncode == 2 and "refresh and schedule" in r.stderr


def _fakebin(tmp_path: Path) -> tuple[Path, Path]:
    d = tmp_path / "bin"
    d.mkdir()
    store = tmp_path / "crontab.txt"
    (d / "crontab").write_text(f"""#!/bin/sh
f={store}
case "$1" in
  -l) if [ -f "$f" ]; then cat "$f"; else echo "no crontab for $(id -un)" >&2; exit 1; fi ;;
  -) cat > "$f" ;;
  -r) rm -f "$f" ;;
  *) exit 2 ;;
esac
""")
    log = tmp_path / "systemctl.log"
    (d / "systemctl").write_text(f'#!/bin/sh\necho "$@" >> {log}\nexit 0\n')
    for f in d.iterdir():
        f.chmod(0o755)
    return d, store


def test_all_users_schedule_installs_one_system_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pgiam.cli import main as cli_main
    from pgiam.cli.commands import schedule as schedule_cmd

    d, store = _fakebin(tmp_path)
    monkeypatch.setenv("PATH", f"{d}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}")
    # cron: root's crontab gets one line that runs every user's refresh
    assert cli_main.main(["--all-users", "schedule", "install", "--backend", "cron"]) == 0
    lines = [ln for ln in store.read_text().splitlines() if ln.endswith("# pgiam-schedule")]
    assert len(lines) == 1 and "--all-users refresh --quiet" in lines[0] and "--config" not in lines[0]
    # systemd: a system timer (systemctl without --user), in the system unit directory
    units = tmp_path / "system"
    monkeypatch.setattr(schedule_cmd, "SYSTEM_UNIT_DIR", units)
    assert cli_main.main(["--all-users", "schedule", "install", "--backend", "systemd"]) == 0
    service = (units / "pgiam-refresh.service").read_text()
    assert "--all-users refresh --quiet" in service and (units / "pgiam-refresh.timer").exists()
    calls = (tmp_path / "systemctl.log").read_text().splitlines()
    assert "enable --now pgiam-refresh.timer" in calls and not any("--user" in c for c in calls)
    import io

    from pgiam.flow.context import Context

    ctx = Context.create()
    ctx.out.stdout = io.StringIO()  # read what show printed here
    assert schedule_cmd.run(ctx, "show", None, None, all_users=True) == 0
    shown = ctx.out.stdout.getvalue()
    assert "systemd: every 5m" in shown and "cron: every 5m" in shown
    assert cli_main.main(["--all-users", "schedule", "remove"]) == 0
    assert not (units / "pgiam-refresh.service").exists() and not store.exists()  # (nothing else was in it)
    # without --all-users the same verbs act on the user's own jobs, not the system ones
    assert schedule_cmd._all_users is False


def test_all_users_refuses_per_user_paths_after_the_verb_too() -> None:
    r = run_pgiam(["--all-users", "refresh", "--config", "/x.toml"], {})
    assert r.returncode == 2 and "drop --config" in r.stderr, r.stderr
