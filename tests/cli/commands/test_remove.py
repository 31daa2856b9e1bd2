"""`pgiam remove NAME`: exactly its config table, stanza, pgpass entry and state; nothing else."""

from __future__ import annotations

from pathlib import Path

from pgiam.flow import state
from tests.conftest import Cli

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"
CONFIG = '# my services\n[defaults]\nregion = "us-west-2"\n'
PGPASS = "# mine\n*:*:*:postgres:hunter2\n"
SERVICES = "# mine\n[local]\nhost=localhost\n"


def paths(home: Path) -> list[Path]:
    return [home / ".config" / "pgiam" / "config.toml", home / ".pgpass", home / ".pg_service.conf"]


def snapshot(home: Path) -> dict[Path, bytes | None]:
    return {p: p.read_bytes() if p.exists() else None for p in paths(home)}


def seed(home: Path) -> None:
    cfg, pgpass, services = paths(home)
    cfg.parent.mkdir(parents=True)
    cfg.write_text(CONFIG)
    pgpass.write_text(PGPASS)
    pgpass.chmod(0o600)
    services.write_text(SERVICES)


def test_remove_undoes_add_exactly(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    seed(isolated_env)
    assert cli("add", "dev", "--host", HOST, "--user", "bob").code == 0
    before = snapshot(isolated_env)
    assert cli("add", "prod", "--host", HOST, "--user", "alice", "--set", "application_name=x").code == 0
    assert snapshot(isolated_env) != before
    r = cli("remove", "prod")
    assert r.code == 0 and r.err == ""
    assert r.out == (f"prod: removed from {paths(isolated_env)[0]}, {paths(isolated_env)[1]} and "
                     f"{paths(isolated_env)[2]}\n")
    assert snapshot(isolated_env) == before
    saved = state.load(isolated_env / ".local" / "state" / "pgiam" / "state.json")
    assert set(saved.services) == {"dev"}
    assert cli("refresh").out == ""  # dev is untouched and still fresh


def test_removing_the_only_service_removes_files_it_created(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    assert cli("add", "prod", "--host", HOST, "--user", "alice").code == 0
    assert cli("remove", "prod").code == 0
    cfg, pgpass, services = paths(isolated_env)
    assert cfg.read_text() == "" and not pgpass.exists() and not services.exists()


def test_unknown_service_exit_2(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    seed(isolated_env)
    before = snapshot(isolated_env)
    r = cli("remove", "nosuch")
    assert r.code == 2 and r.err.count("\n") == 1 and "no service 'nosuch'" in r.err
    assert snapshot(isolated_env) == before


def test_foreign_stanza_of_the_same_name_is_kept(cli: Cli, isolated_env: Path) -> None:
    seed(isolated_env)
    cfg, _, services = paths(isolated_env)
    cfg.write_text(CONFIG + f'[services.local]\nhost = "{HOST}"\nuser = "alice"\n')
    assert cli("remove", "local").code == 0
    assert cfg.read_text() == CONFIG
    assert services.read_text() == SERVICES


def test_site_service_cannot_be_removed(cli: Cli, isolated_env: Path, tmp_path: Path) -> None:
    cli.static_keys()
    site = tmp_path / "site.toml"
    site_text = f'[services.shared]\nhost = "{HOST}"\nuser = "alice"\n'
    site.write_text(site_text)
    env = {"PGIAM_SITE_CONFIG": str(site)}
    assert cli("refresh", env=env).code == 0
    before = snapshot(isolated_env)
    r = cli("remove", "shared", env=env)
    assert r.code == 2 and r.err.count("\n") == 1
    assert "service 'shared' is not defined in" in r.err and f"system-wide config {site}" in r.err
    assert site.read_text() == site_text and snapshot(isolated_env) == before


def test_service_in_both_files_loses_only_the_user_table(cli: Cli, isolated_env: Path, tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(f'[services.shared]\nhost = "{HOST}"\nuser = "alice"\n')
    cfg = paths(isolated_env)[0]
    cfg.parent.mkdir(parents=True)
    cfg.write_text(CONFIG + "[services.shared]\nport = 6000\n")
    r = cli("remove", "shared", env={"PGIAM_SITE_CONFIG": str(site)})
    assert r.code == 0, r.err
    assert cfg.read_text() == CONFIG and "[services.shared]" in site.read_text()
