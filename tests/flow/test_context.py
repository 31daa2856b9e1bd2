"""Context: file locations from options and environment, the clock, the output policy."""

from __future__ import annotations

import io
import os
import time
from datetime import timezone
from pathlib import Path

import pytest

from pgiam.config import paths
from pgiam.flow.context import Context, Output

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"


def plat(home: Path, **env: str) -> paths.Platform:
    return paths.Platform(system="linux", env=env, home=home)


def test_defaults(tmp_path: Path) -> None:
    ctx = Context.create(platform=plat(tmp_path))
    assert ctx.config_path == tmp_path / ".config" / "pgiam" / "config.toml"
    assert ctx.site_config_path == Path("/etc/pgiam/config.toml")
    assert ctx.pgpass == tmp_path / ".pgpass" and ctx.service_file == tmp_path / ".pg_service.conf"
    assert ctx.state_path == tmp_path / ".local" / "state" / "pgiam" / "state.json"
    assert ctx.pgpass_is_default
    assert not ctx.out.quiet and not ctx.out.verbose


def test_environment_then_options(tmp_path: Path) -> None:
    env = {"PGIAM_CONFIG": "/e/c.toml", "PGPASSFILE": "/e/pgpass", "PGSERVICEFILE": "/e/svc", "PGIAM_STATE": "/e/s",
           "PGIAM_SITE_CONFIG": "", "XDG_CONFIG_HOME": "/x"}
    ctx = Context.create(platform=plat(tmp_path, **env))
    assert (ctx.config_path, ctx.pgpass, ctx.service_file, ctx.state_path) == (
        Path("/e/c.toml"), Path("/e/pgpass"), Path("/e/svc"), Path("/e/s"))
    assert ctx.site_config_path is None and not ctx.pgpass_is_default
    ctx = Context.create(platform=plat(tmp_path, **env), config_file="/o/c.toml", pgpass="/o/p",
                         service_file="/o/s", quiet=True, verbose=True)
    assert (ctx.config_path, ctx.pgpass, ctx.service_file) == (Path("/o/c.toml"), Path("/o/p"), Path("/o/s"))
    assert ctx.out.quiet and ctx.out.verbose


def test_pgpass_default_through_a_symlink_or_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".pgpass").write_text("")
    (tmp_path / "link").symlink_to(tmp_path / ".pgpass")
    assert Context.create(platform=plat(tmp_path), pgpass=str(tmp_path / "link")).pgpass_is_default
    monkeypatch.chdir(tmp_path)
    ctx = Context.create(platform=plat(tmp_path), pgpass=".pgpass")
    assert ctx.pgpass_is_default
    ctx.pgpass = tmp_path / "other"  # the cached answer follows the path
    assert not ctx.pgpass_is_default


def test_now_is_utc_whole_seconds() -> None:
    ctx = Context.create(platform=plat(Path("/nonexistent")))
    before = int(time.time())
    now = ctx.now()
    assert now.tzinfo == timezone.utc and now.microsecond == 0
    assert before <= now.timestamp() <= time.time()


def test_load_config_reads_site_then_user(tmp_path: Path) -> None:
    site, user = tmp_path / "site.toml", tmp_path / "user.toml"
    site.write_text(f'[services.shared]\nhost = "{HOST}"\nuser = "s"\n')
    user.write_text(f'[services.mine]\nhost = "{HOST}"\nuser = "m"\n')
    ctx = Context.create(platform=plat(tmp_path, PGIAM_SITE_CONFIG=str(site)), config_file=str(user))
    assert list(ctx.load_config().services) == ["shared", "mine"]


def test_load_config_reads_a_site_file_used_as_user_file_once(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(f'[defaults]\nport = 6000\n[services.s]\nhost = "{HOST}"\nuser = "s"\n')
    os.symlink(site, tmp_path / "same.toml")
    ctx = Context.create(platform=plat(tmp_path, PGIAM_SITE_CONFIG=str(site)), config_file=str(tmp_path / "same.toml"))
    cfg = ctx.load_config()
    assert cfg.exists and cfg.services["s"].port == 6000


def _capture(quiet: bool, verbose: bool) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    o = Output(quiet=quiet, verbose=verbose, stdout=out, stderr=err)
    o.info("i")
    o.detail("d")
    o.warn("w")
    o.error("e")
    return out.getvalue(), err.getvalue()


def test_output_policy() -> None:
    assert _capture(False, False) == ("i\n", "pgiam: warning: w\npgiam: error: e\n")
    assert _capture(False, True) == ("i\nd\n", "pgiam: warning: w\npgiam: error: e\n")
    assert _capture(True, False) == ("", "pgiam: error: e\n")
    assert _capture(True, True) == ("", "pgiam: error: e\n")
