"""Root (without --user) never writes or creates anything through another user's symlink, at any depth.

The attack: root runs pgiam with a home it does not own the contents of (`sudo -E`, `su -m`), and that
user has planted a symlink somewhere on the way to a file pgiam writes: `~/.config/pgiam -> /etc/pgiam`,
`~/.config/systemd/user -> /root/x`, a dangling link naming a directory root would create. Each file
kind pgiam writes is tried: config, state, pgpass, service file, lock files, schedule units, CA bundle.
The links are owned by a real second user (useradd); the directories they point at are root's.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from tests.ca_helpers import bundle
from tests.conftest import Cli
from tests.helpers_fs import keys_in_aws_files
from tests.users import alice, link_as  # noqa: F401  (alice is a fixture)

pytestmark = pytest.mark.root

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"


def victim(tmp_path: Path, name: str) -> Path:
    """A root-only directory the link points at, with a file root cares about."""
    d = tmp_path / name
    d.mkdir(mode=0o700)
    (d / "precious").write_bytes(b"root's\n")
    return d


def untouched(d: Path) -> None:
    assert sorted(os.listdir(d)) == ["precious"], os.listdir(d)
    assert (d / "precious").read_bytes() == b"root's\n"


def refused(r: object, link: Path) -> None:
    code, err = r.code, r.err  # type: ignore[attr-defined]
    assert code in (1, 2), err
    lines = [ln for ln in err.splitlines() if ln.startswith("pgiam: error:")]
    assert lines, err
    assert any("symlink" in ln and str(link) in ln for ln in lines), err
    assert "Traceback" not in err


def add(cli: Cli, *extra: str, env: dict[str, str] | None = None) -> object:
    cli.static_keys()
    return cli(*extra, "add", "s1", "--host", HOST, "--user", "u1", "--sslmode", "require", env=env)


def test_config_dir_link_to_a_root_dir(cli: Cli, isolated_env: Path, tmp_path: Path,
                                       alice: pwd.struct_passwd) -> None:  # noqa: F811
    target = victim(tmp_path, "etc-pgiam")
    link = link_as(alice, isolated_env / ".config" / "pgiam", target)
    r = add(cli)
    refused(r, link)
    untouched(target)


def test_dangling_link_never_makes_root_create_the_directory(
    cli: Cli, isolated_env: Path, tmp_path: Path, alice: pwd.struct_passwd  # noqa: F811
) -> None:
    named = tmp_path / "made-by-root"
    link = link_as(alice, isolated_env / ".config" / "pgiam", named)
    r = add(cli)
    refused(r, link)
    assert not named.exists()


def test_link_deep_in_the_path(cli: Cli, isolated_env: Path, tmp_path: Path,
                               alice: pwd.struct_passwd) -> None:  # noqa: F811
    target = victim(tmp_path, "deep")
    (target / "a").mkdir()
    link = link_as(alice, isolated_env / "x", target)  # ~/x -> root dir; pgpass at ~/x/a/pgpass
    r = add(cli, "--pgpass", str(isolated_env / "x" / "a" / "pgpass"))
    refused(r, link)
    assert os.listdir(target / "a") == []


def test_pgpass_dir_link(cli: Cli, isolated_env: Path, tmp_path: Path, alice: pwd.struct_passwd) -> None:  # noqa: F811
    target = victim(tmp_path, "pgpass-dir")
    link = link_as(alice, isolated_env / "sub", target)
    r = add(cli, env={"PGPASSFILE": str(link / "pgpass")})
    refused(r, link)
    untouched(target)


def test_service_file_dir_link(cli: Cli, isolated_env: Path, tmp_path: Path,
                               alice: pwd.struct_passwd) -> None:  # noqa: F811
    target = victim(tmp_path, "svc-dir")
    link = link_as(alice, isolated_env / "sub", target)
    r = add(cli, env={"PGSERVICEFILE": str(link / "pg_service.conf")})
    refused(r, link)
    untouched(target)


def test_state_dir_link(cli: Cli, isolated_env: Path, tmp_path: Path, alice: pwd.struct_passwd) -> None:  # noqa: F811
    target = victim(tmp_path, "state-dir")
    link = link_as(alice, isolated_env / ".local" / "state", target)
    r = add(cli)
    refused(r, link)
    untouched(target)


def test_lock_dir_link(cli: Cli, isolated_env: Path, tmp_path: Path, alice: pwd.struct_passwd) -> None:  # noqa: F811
    target = victim(tmp_path, "locks")
    (isolated_env / ".local" / "state" / "pgiam").mkdir(parents=True, mode=0o700)
    link = link_as(alice, isolated_env / ".local" / "state" / "pgiam" / "locks", target)
    r = add(cli)
    refused(r, link)
    untouched(target)
    assert not (isolated_env / ".pgpass").exists()


def test_schedule_units_dir_link(cli: Cli, isolated_env: Path, tmp_path: Path,
                                 alice: pwd.struct_passwd) -> None:  # noqa: F811
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "systemctl").write_text("#!/bin/sh\nexit 0\n")
    (fake / "systemctl").chmod(0o755)
    cli.env["PATH"] = f"{fake}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
    assert add(cli).code == 0  # type: ignore[attr-defined]
    keys_in_aws_files(isolated_env)  # where the scheduled job finds them, not only in this shell
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        cli.env.pop(k, None)
    target = victim(tmp_path, "root-x")
    link = link_as(alice, isolated_env / ".config" / "systemd" / "user", target)
    r = cli("schedule", "install", "--backend", "systemd")
    refused(r, link)
    untouched(target)


def test_ca_bundle_dir_link(cli: Cli, isolated_env: Path, tmp_path: Path, alice: pwd.struct_passwd) -> None:  # noqa: F811
    pem = tmp_path / "bundle.pem"
    pem.write_bytes(bundle(1))
    target = victim(tmp_path, "pg-dir")
    link = link_as(alice, isolated_env / ".postgresql", target)
    r = cli("ca", "install", "--from", str(pem))
    refused(r, link)
    untouched(target)


def test_roots_own_links_are_followed(cli: Cli, isolated_env: Path, tmp_path: Path) -> None:
    """The rule is about other users' links: root's own (a dotfiles checkout) still work, at any depth."""
    real = tmp_path / "dotfiles" / "config"
    real.mkdir(parents=True)
    (isolated_env / ".config").symlink_to(real)  # owned by root
    r = add(cli)
    assert r.code == 0, r.err  # type: ignore[attr-defined]
    assert (real / "pgiam" / "config.toml").is_file()


def test_schedule_remove_through_a_link_deletes_nothing(cli: Cli, isolated_env: Path, tmp_path: Path,
                                                        alice: pwd.struct_passwd) -> None:  # noqa: F811
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "systemctl").write_text("#!/bin/sh\nexit 0\n")
    (fake / "systemctl").chmod(0o755)
    cli.env["PATH"] = f"{fake}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
    target = victim(tmp_path, "root-units")  # root's own units, which alice's link points at
    (target / "pgiam-refresh.service").write_text("[Service]\n")
    (target / "pgiam-refresh.timer").write_text("[Timer]\n")
    (target / "timers.target.wants").mkdir()
    (target / "timers.target.wants" / "pgiam-refresh.timer").symlink_to(target / "pgiam-refresh.timer")
    before = sorted(str(p.relative_to(target)) for p in target.rglob("*"))
    link = link_as(alice, isolated_env / ".config" / "systemd" / "user", target)
    r = cli("schedule", "remove", "--backend", "systemd")
    refused(r, link)
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == before
