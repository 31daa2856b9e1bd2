"""`pgiam schedule` through the real CLI: crontab (a fake on PATH and the real one), systemd user units
(checked by systemd-analyze), launchd (a fake launchctl on PATH). Tools are replaced only via PATH."""

from __future__ import annotations

import os
import plistlib
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_KEY_ID, TEST_SECRET, Cli

HOST = "mydb.abc123.us-east-1.rds.amazonaws.com"
FOREIGN = 'MAILTO=""\n# backups\n0 3 * * * /usr/bin/true --nightly\n'


def write(path: Path, text: str, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def fakebin(tmp_path: Path, cli: Cli) -> Path:
    """A directory first on PATH; `systemctl --user` fails there unless a test installs another fake."""
    d = tmp_path / "bin"
    d.mkdir()
    write(d / "systemctl", "#!/bin/sh\necho 'Failed to connect to bus: No medium found' >&2\nexit 1\n")
    cli.env["PATH"] = f"{d}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
    return d


@pytest.fixture
def fake_crontab(fakebin: Path, tmp_path: Path, cli: Cli) -> Path:
    store = tmp_path / "crontab.txt"
    write(
        fakebin / "crontab",
        f"""#!/bin/sh
f={store}
case "$1" in
  -l) if [ -f "$f" ]; then cat "$f"; else echo "no crontab for $(id -un)" >&2; exit 1; fi ;;
  -) cat > "$f" ;;
  -r) if [ -f "$f" ]; then rm "$f"; else echo "no crontab for $(id -un)" >&2; exit 1; fi ;;
  *) echo "fake crontab: unsupported $*" >&2; exit 2 ;;
esac
""",
    )
    return store


def add_service(cli: Cli, *extra: str) -> None:
    """A service whose credentials live where a scheduled job finds them (~/.aws/credentials)."""
    creds = cli.home / ".aws" / "credentials"
    creds.parent.mkdir(exist_ok=True)
    creds.write_text(f"[default]\naws_access_key_id = {TEST_KEY_ID}\naws_secret_access_key = {TEST_SECRET}\n")
    r = cli("add", "prod", "--host", HOST, "--user", "alice", *extra)
    assert r.code == 0, r.err


def test_default_backend_without_user_systemd_is_cron(
    cli: Cli, fake_crontab: Path, isolated_env: Path
) -> None:
    add_service(cli)
    fake_crontab.write_text(FOREIGN)
    r = cli("schedule", "install")
    assert r.code == 0, r.err
    assert "cron: installed" in r.out
    text = fake_crontab.read_text()
    assert text.startswith(FOREIGN)
    ours = [ln for ln in text.splitlines() if ln.endswith("# pgiam-schedule")]
    assert len(ours) == 1
    line = ours[0]
    assert line.startswith("*/5 * * * * ")
    config = isolated_env / ".config" / "pgiam" / "config.toml"
    assert f"--config {config} refresh --quiet" in line
    prog = line.split()[5]
    assert os.path.isabs(prog.strip("'")) and os.access(prog.strip("'"), os.X_OK)
    # idempotent
    r = cli("schedule", "install")
    assert r.code == 0 and "already installed" in r.out
    assert fake_crontab.read_text() == text
    # show
    r = cli("schedule", "show")
    assert r.code == 0 and "cron: every 5m:" in r.out and "refresh --quiet" in r.out
    # a new interval replaces the line
    assert cli("schedule", "install", "--every", "2m").code == 0
    assert (
        fake_crontab.read_text().count("# pgiam-schedule") == 1 and "*/2 * * * *" in fake_crontab.read_text()
    )
    # remove leaves exactly the foreign lines
    r = cli("schedule", "remove")
    assert r.code == 0 and "removed" in r.out
    assert fake_crontab.read_text() == FOREIGN
    assert "no pgiam schedule installed" in cli("schedule", "show").out
    assert "no pgiam schedule was installed" in cli("schedule", "remove").out


def test_the_job_passes_explicit_files(cli: Cli, fake_crontab: Path, tmp_path: Path) -> None:
    pgpass = tmp_path / "my pgpass"
    add_service(cli, "--pgpass", str(pgpass))
    r = cli("--pgpass", str(pgpass), "schedule", "install", "--backend", "cron")
    assert r.code == 0, r.err
    assert f"--pgpass '{pgpass}'" in fake_crontab.read_text()


def test_the_installed_cron_command_runs(cli: Cli, fake_crontab: Path, isolated_env: Path) -> None:
    """Run the scheduled command line the way cron would (/bin/sh -c): quiet success, token renewed."""
    add_service(cli)
    assert cli("schedule", "install").code == 0
    line = next(ln for ln in fake_crontab.read_text().splitlines() if ln.endswith("# pgiam-schedule"))
    command = " ".join(line.split(" ")[5:]).replace("\\%", "%")
    (isolated_env / ".pgpass").unlink()
    env = cli.environ()
    p = subprocess.run(
        ["/bin/sh", "-c", command], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert p.returncode == 0 and p.stdout == "" and p.stderr == "", p.stderr
    assert HOST in (isolated_env / ".pgpass").read_text()


@pytest.mark.parametrize(
    ("every", "message"),
    [
        ("10m", "--every 10m could leave an expired token in place"),
        ("30s", "at most once a minute"),
        ("soon", "expected a duration"),
    ],
)
def test_refuses_unsafe_intervals(cli: Cli, fake_crontab: Path, every: str, message: str) -> None:
    add_service(cli)
    r = cli("schedule", "install", "--every", every)
    assert r.code == 2 and message in r.err
    assert not fake_crontab.exists()


def test_longer_refresh_window_allows_longer_interval(
    cli: Cli, fake_crontab: Path, isolated_env: Path
) -> None:
    add_service(cli)
    config = isolated_env / ".config" / "pgiam" / "config.toml"
    config.write_text(config.read_text() + "refresh_before = 600\n")
    r = cli("schedule", "install", "--every", "10m")
    assert r.code == 0, r.err
    assert "*/10 * * * *" in fake_crontab.read_text()


def test_crontab_missing(cli: Cli, fakebin: Path) -> None:
    add_service(cli)
    cli.env["PATH"] = str(fakebin)  # no crontab at all (sh is not needed: pgiam runs tools directly)
    r = cli("schedule", "install", "--backend", "cron")
    assert r.code == 1 and "crontab not found" in r.err


# --------------------------------------------------------------------------- the real crontab


@pytest.fixture
def real_crontab_user(fakebin: Path) -> Iterator[str]:
    """A throwaway Unix user whose real crontab a `crontab` wrapper on PATH edits (root only)."""
    real = shutil.which("crontab", path="/usr/bin:/bin:/usr/sbin:/sbin")
    if (
        real is None
        or os.geteuid() != 0
        or shutil.which("useradd") is None
        or shutil.which("runuser") is None
    ):
        pytest.skip("needs root, useradd, runuser and the real crontab (package cron; .ci/run installs it)")
    name = "pgiamcron" + secrets.token_hex(3)
    home = tempfile.mkdtemp(prefix="pgiam-cron-")
    subprocess.run(
        ["useradd", "--no-create-home", "--home-dir", home, "--shell", "/bin/sh", name],
        check=True,
        capture_output=True,
    )
    try:
        write(fakebin / "crontab", f'#!/bin/sh\nexec runuser -u {name} -- {real} "$@"\n')
        yield name
    finally:
        subprocess.run(["crontab", "-r", "-u", name], capture_output=True, check=False)
        subprocess.run(["userdel", name], capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)


def _user_crontab(name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["crontab", "-l", "-u", name], capture_output=True, text=True, check=False)


def test_real_crontab_round_trip(cli: Cli, real_crontab_user: str) -> None:
    name = real_crontab_user
    pwd.getpwnam(name)
    roots_before = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=False)
    assert "no crontab" in _user_crontab(name).stderr
    subprocess.run(["runuser", "-u", name, "--", "crontab", "-"], input=FOREIGN, text=True, check=True)
    add_service(cli)
    r = cli("schedule", "install", "--backend", "cron")
    assert r.code == 0, r.err
    listed = _user_crontab(name).stdout
    assert FOREIGN in listed and listed.count("# pgiam-schedule") == 1
    assert cli("schedule", "install", "--backend", "cron").out.startswith("cron: already installed")
    assert "cron: every 5m" in cli("schedule", "show").out
    assert cli("schedule", "remove", "--backend", "cron").code == 0
    after = _user_crontab(name).stdout
    assert "pgiam" not in after and FOREIGN in after
    # root's own crontab was never touched: the wrapper always acts as the throwaway user
    roots_after = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=False)
    assert (roots_after.returncode, roots_after.stdout) == (roots_before.returncode, roots_before.stdout)


# --------------------------------------------------------------------------- systemd


def _verify(files: list[Path], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return subprocess.run(
        ["systemd-analyze", "--user", "verify", *map(str, files)],
        capture_output=True,
        text=True,
        env=dict(os.environ, XDG_RUNTIME_DIR=str(runtime)),
        timeout=60,
        check=False,
    )


def test_systemd_without_a_user_session(cli: Cli, fakebin: Path, isolated_env: Path, tmp_path: Path) -> None:
    """No `systemctl --user` here (the fake fails like a machine without a user bus): the units are
    written, valid, and the error says how to enable them."""
    add_service(cli)
    r = cli("schedule", "install", "--backend", "systemd")
    assert r.code == 1
    assert (
        "could not enable them" in r.err and "loginctl enable-linger" in r.err and "--backend cron" in r.err
    )
    unit_dir = isolated_env / ".config" / "systemd" / "user"
    files = [unit_dir / "pgiam-refresh.timer", unit_dir / "pgiam-refresh.service"]
    assert all(f.is_file() for f in files)
    assert "OnUnitActiveSec=300s" in files[0].read_text()
    if shutil.which("systemd-analyze"):
        p = _verify(files, tmp_path)
        assert p.returncode == 0 and p.stderr.strip() == "", p.stderr
    assert "systemd: every 5m" in cli("schedule", "show").out
    r = cli("schedule", "remove")
    assert r.code == 0 and not any(f.exists() for f in files)
    assert not unit_dir.exists() and not unit_dir.parent.exists()  # the empty unit dirs went too
    assert (isolated_env / ".config").is_dir()


def test_systemd_with_a_user_manager(cli: Cli, fakebin: Path, tmp_path: Path, isolated_env: Path) -> None:
    """A systemctl that answers (fake, recording argv): systemd becomes the default and is enabled."""
    log = tmp_path / "systemctl.log"
    write(
        fakebin / "systemctl",
        f'#!/bin/sh\necho "$*" >> {log}\ncase "$*" in *is-active*) echo active ;; esac\nexit 0\n',
    )
    add_service(cli)
    r = cli("schedule", "install")
    assert r.code == 0, r.err
    assert "pgiam-refresh.timer enabled" in r.out
    calls = log.read_text().splitlines()
    assert calls[0] == "--user show-environment"
    assert "--user daemon-reload" in calls and "--user enable --now pgiam-refresh.timer" in calls
    assert "timer state: active" in cli("schedule", "show").out
    log.write_text("")
    assert cli("schedule", "remove").code == 0
    assert "--user disable --now pgiam-refresh.timer" in log.read_text().splitlines()
    assert not (isolated_env / ".config" / "systemd" / "user" / "pgiam-refresh.timer").exists()


# --------------------------------------------------------------------------- launchd


def test_launchd_with_fake_launchctl(cli: Cli, fakebin: Path, tmp_path: Path, isolated_env: Path) -> None:
    log = tmp_path / "launchctl.log"
    write(fakebin / "launchctl", f'#!/bin/sh\necho "$*" >> {log}\nexit 0\n')
    add_service(cli)
    r = cli("schedule", "install", "--backend", "launchd", "--every", "4m")
    assert r.code == 0, r.err
    plist = isolated_env / "Library" / "LaunchAgents" / "pgiam.refresh.plist"
    doc = plistlib.loads(plist.read_bytes())
    assert doc["Label"] == "pgiam.refresh" and doc["StartInterval"] == 240 and doc["RunAtLoad"] is True
    assert doc["ProgramArguments"][-2:] == ["refresh", "--quiet"]
    assert doc["StandardErrorPath"] == str(isolated_env / "Library" / "Logs" / "pgiam-refresh.log")
    uid = os.getuid()
    assert log.read_text().splitlines() == [
        f"bootout gui/{uid}/pgiam.refresh",
        f"bootstrap gui/{uid} {plist}",
    ]
    assert "launchd: every 4m" in cli("schedule", "show").out
    assert cli("schedule", "remove").code == 0
    assert not plist.exists()
    assert log.read_text().splitlines()[-1] == f"bootout gui/{uid}/pgiam.refresh"


def test_launchd_without_launchctl(cli: Cli, fakebin: Path, isolated_env: Path) -> None:
    add_service(cli)
    cli.env["PATH"] = str(fakebin)
    r = cli("schedule", "install", "--backend", "launchd")
    assert r.code == 1 and "launchctl not found" in r.err and "macOS" in r.err
    assert (isolated_env / "Library" / "LaunchAgents" / "pgiam.refresh.plist").is_file()


def test_every_only_for_install(cli: Cli, fake_crontab: Path) -> None:
    r = cli("schedule", "show", "--every", "5m")
    assert r.code == 2 and "--every only applies" in r.err
