"""`pgiam schedule install` tries the job's exact command in the environment the job will have, and
refuses (installing nothing) when it fails; it carries what the job needs; `remove` leaves nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.commands.test_schedule import HOST, add_service, fake_crontab, fakebin  # noqa: F401
from tests.conftest import TEST_KEY_ID, TEST_SECRET, Cli


def _job_line(store: Path) -> str:
    return next(ln for ln in store.read_text().splitlines() if ln.endswith("# pgiam-schedule"))


def test_credentials_only_in_this_shell_are_refused(cli: Cli, fake_crontab: Path) -> None:  # noqa: F811
    cli.static_keys()
    assert cli("add", "prod", "--host", HOST, "--user", "alice").code == 0
    r = cli("schedule", "install", "--backend", "cron")
    assert r.code == 1, r.err
    assert "nothing installed: the job would fail" in r.err
    assert "AWS_ACCESS_KEY_ID" in r.err and "does not inherit" in r.err
    assert TEST_SECRET not in r.err
    assert not fake_crontab.exists()


def test_aws_profile_only_in_this_shell_is_refused(cli: Cli, fake_crontab: Path, isolated_env: Path) -> None:  # noqa: F811
    aws = isolated_env / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text(f"[dev]\naws_access_key_id = {TEST_KEY_ID}\n"
                                     f"aws_secret_access_key = {TEST_SECRET}\n")
    cli.env["AWS_PROFILE"] = "dev"
    assert cli("add", "prod", "--host", HOST, "--user", "alice").code == 0
    r = cli("schedule", "install", "--backend", "cron")
    assert r.code == 1 and "AWS_PROFILE=dev is set only in this shell" in r.err and 'profile = "dev"' in r.err
    assert not fake_crontab.exists()
    # the fix the message names works
    cfg = isolated_env / ".config" / "pgiam" / "config.toml"
    cfg.write_text(cfg.read_text() + 'profile = "dev"\n')
    r = cli("schedule", "install", "--backend", "cron")
    assert r.code == 0, r.err


def test_site_config_is_carried_into_the_job(cli: Cli, fake_crontab: Path, tmp_path: Path,  # noqa: F811
                                             isolated_env: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(f'[services.shared]\nhost = "{HOST}"\nuser = "alice"\n')
    cli.env["PGIAM_SITE_CONFIG"] = str(site)
    add_service(cli)  # also writes ~/.aws/credentials
    assert cli("schedule", "install", "--backend", "cron").code == 0
    line = _job_line(fake_crontab)
    assert f"PGIAM_SITE_CONFIG={site}" in line
    # run it as cron does: /bin/sh -c, with cron's tiny environment and nothing of this shell's
    (isolated_env / ".pgpass").unlink()
    command = " ".join(line.split(" ")[5:]).replace("\\%", "%")
    p = subprocess.run(["/bin/sh", "-c", command], env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
                       capture_output=True, text=True, timeout=60, check=False)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    pgpass = (isolated_env / ".pgpass").read_text()
    assert pgpass.count(f"{HOST}:5432:alice:alice:") == 1  # the site's service and the user's share it


def test_remove_leaves_no_empty_crontab(cli: Cli, fake_crontab: Path) -> None:  # noqa: F811
    add_service(cli)
    assert cli("schedule", "install", "--backend", "cron").code == 0
    assert fake_crontab.exists()
    r = cli("schedule", "remove")
    assert r.code == 0 and "crontab it left empty" in r.out
    assert not fake_crontab.exists()


@pytest.fixture
def cron_process(tmp_path: Path) -> Iterator[None]:
    """A process whose name is `cron` (a copy of sleep): what a running cron daemon looks like."""
    exe = tmp_path / "daemon" / "cron"
    exe.parent.mkdir()
    sleep = shutil.which("sleep")
    assert sleep
    shutil.copy(sleep, exe)
    proc = subprocess.Popen([str(exe), "120"])
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


def _cron_runs_already() -> bool:
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and (d / "comm").read_text().strip() in ("cron", "crond"):
                return True
        except OSError:
            continue
    return False


def test_warns_when_no_cron_daemon_runs(cli: Cli, fake_crontab: Path) -> None:  # noqa: F811
    assert not _cron_runs_already(), "this test needs a machine where no cron daemon runs"
    add_service(cli)
    r = cli("schedule", "install", "--backend", "cron")
    assert r.code == 0 and "no cron daemon is running" in r.err


def test_no_warning_when_cron_runs(cli: Cli, fake_crontab: Path, cron_process: None) -> None:  # noqa: F811
    add_service(cli)
    r = cli("schedule", "install", "--backend", "cron")
    assert r.code == 0 and "cron daemon" not in r.err, r.err


def test_the_preflight_sees_only_the_jobs_environment(cli: Cli, fake_crontab: Path, tmp_path: Path) -> None:  # noqa: F811
    """A config found only through PGIAM_CONFIG in this shell is passed as --config; a PATH entry of this
    shell is not the job's (the job's command is absolute)."""
    cfg = tmp_path / "elsewhere.toml"
    cli.env["PGIAM_CONFIG"] = str(cfg)
    add_service(cli)
    r = cli("schedule", "install", "--backend", "cron")
    assert r.code == 0, r.err
    assert f"--config {cfg} refresh --quiet" in _job_line(fake_crontab)
    assert os.path.isabs(_job_line(fake_crontab).split()[5])
