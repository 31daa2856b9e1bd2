"""Shared bastion hosts: a site-wide config every user inherits, and root acting as a user.

Real OS users are created with useradd (root only); tokens are checked by the real PostgreSQL rig.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgiam.aws import tokeninfo
from tests.pg.rig import Rig

pytestmark = [
    pytest.mark.pg,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create OS users (CI runs as root)"),
]


RUNUSER = shutil.which("runuser") or "/usr/sbin/runuser"
USERADD = shutil.which("useradd") or "/usr/sbin/useradd"
USERDEL = shutil.which("userdel") or "/usr/sbin/userdel"


def _world_readable(path: str) -> bool:
    p = Path(path).resolve()
    return all(os.stat(q).st_mode & stat.S_IXOTH for q in [p, *p.parents]) and bool(
        os.stat(p).st_mode & stat.S_IROTH
    )


def interpreter() -> list[str]:
    """A Python every user can run, with pgiam and its dependencies on its path.

    The test venv's base Python may sit under /root (0700); Debian's /usr/bin/python3 does not.
    Dependencies come from the test venv's site-packages (pure Python).
    """
    for exe in (sys.executable, "/usr/bin/python3"):
        probe = subprocess.run([exe, "-c", "import os; print(os.path.dirname(os.__file__))"],
                               capture_output=True, text=True, check=False)
        if probe.returncode == 0 and _world_readable(probe.stdout.strip()):
            return [exe]
    pytest.fail("no Python readable by other users (install Debian's python3)")


@pytest.fixture(scope="module")
def users() -> Iterator[list[pwd.struct_passwd]]:
    from tests.users import os_users

    try:
        with os_users(2, "pgiamb") as made:
            yield made
    finally:
        for path in _readable:
            shutil.rmtree(path, ignore_errors=True)
        _readable.clear()


def write_as(user: pwd.struct_passwd, path: Path, text: str, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for p in [path.parent, *path.parent.parents]:
        if Path(user.pw_dir) in [p, *p.parents] and p != Path(user.pw_dir).parent:
            os.chown(p, user.pw_uid, user.pw_gid)
    path.write_text(text)
    path.chmod(mode)
    os.chown(path, user.pw_uid, user.pw_gid)


# what a dropped-privilege pgiam imports: pgiam and its runtime dependencies
_RUNTIME = ("pgiam", "botocore", "jmespath", "dateutil", "urllib3", "six", "certifi", "filelock",
            "platformdirs", "tomli")
_readable: list[str] = []


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def readable_path() -> str:
    """A PYTHONPATH every user can read: the checkout or its venv may sit in a 0700 directory (a
    mktemp clone, /root), so pgiam and its dependencies are hard-linked (or copied) into one that is not."""
    if _readable:
        return _readable[0]
    import importlib.util

    base = tempfile.mkdtemp(prefix="pgiam-pkgs-")
    os.chmod(base, 0o755)
    for name in _RUNTIME:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue  # optional (tomli on 3.11+, six with newer botocore)
        if spec.submodule_search_locations:
            src = os.path.dirname(spec.origin)
            shutil.copytree(src, os.path.join(base, name), copy_function=_link_or_copy,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            _link_or_copy(spec.origin, os.path.join(base, os.path.basename(spec.origin)))
    for root, dirs, _files in os.walk(base):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
    _readable.append(base)
    return base


def run_pgiam(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    child = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PG", "XDG_"))}
    child.update(env)
    child["PYTHONPATH"] = readable_path()
    return subprocess.run([*interpreter(), "-m", "pgiam", *args], capture_output=True, text=True,
                          env=child, timeout=120, check=False, cwd="/")


def test_users_inherit_site_config_and_root_acts_for_each(
    rig: Rig, users: list[pwd.struct_passwd], tmp_path: Path
) -> None:
    alice, bob = users
    site_dir = Path(tempfile.mkdtemp(prefix="pgiam-site-"))
    try:
        site_dir.chmod(0o755)
        ca = site_dir / "rds-ca.pem"
        shutil.copy(rig.ca_file, ca)
        ca.chmod(0o644)
        site = site_dir / "config.toml"
        site.write_text(
            f'[defaults]\nregion = "us-west-2"\n\n[services.shared]\nhost = "{rig.host}"\n'
            f'port = {rig.signed_port}\nuser = "app_ro"\ndbname = "postgres"\nhostaddr = "{rig.hostaddr}"\n'
            f'local_port = {rig.port}\nsslrootcert = "{ca}"\n'
        )
        site.chmod(0o644)
        # alice overrides one key; bob inherits everything
        write_as(alice, Path(alice.pw_dir) / ".config/pgiam/config.toml", '[services.shared]\nuser = "alice_db"\n')
        keys = {}
        for u in (alice, bob):
            kid = "AKIDBASTION" + secrets.token_hex(4).upper()
            secret = secrets.token_urlsafe(24)
            keys[u.pw_name] = kid
            rig.register_credentials(kid, secret)
            write_as(u, Path(u.pw_dir) / ".aws/credentials",
                     f"[default]\naws_access_key_id = {kid}\naws_secret_access_key = {secret}\n")
        rig.create_role("alice_db")
        rig.create_role("app_ro")
        # root's own AWS keys must never be used for a user
        env = {"PGIAM_SITE_CONFIG": str(site), "AWS_ACCESS_KEY_ID": "AKIDROOTMUSTNOTLEAK0",
               "AWS_SECRET_ACCESS_KEY": "root-secret", "AWS_EC2_METADATA_DISABLED": "true",
               "HOME": "/root"}
        for u, db_user in ((alice, "alice_db"), (bob, "app_ro")):
            r = run_pgiam(["--user", u.pw_name, "refresh"], env)
            assert r.returncode == 0, r.stderr
            pgpass = Path(u.pw_dir) / ".pgpass"
            st = pgpass.stat()
            assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (u.pw_uid, u.pw_gid, 0o600)
            svc = Path(u.pw_dir) / ".pg_service.conf"
            assert svc.stat().st_uid == u.pw_uid
            token = pgpass.read_text().strip().split(":", 4)[4].replace("\\:", ":")
            info = tokeninfo.decode(token)
            assert info is not None and info.user == db_user and info.access_key == keys[u.pw_name]
            # the user's own psql, as that user, finds its files and connects
            p = subprocess.run(
                [RUNUSER, "-u", u.pw_name, "--", rig.psql_path, "-X", "-At", "-d", "service=shared",
                 "-c", "select current_user"],
                capture_output=True, text=True, timeout=60, check=False, cwd="/",
                env={"HOME": u.pw_dir, "PATH": "/usr/bin:/bin"},
            )
            assert p.returncode == 0 and p.stdout.strip() == db_user, p.stderr
        assert not (Path("/root") / ".pgpass.pgiam-bastion-check").exists()
    finally:
        shutil.rmtree(site_dir, ignore_errors=True)


def test_root_without_user_refuses_another_users_home(users: list[pwd.struct_passwd]) -> None:
    alice = users[0]
    home = Path(alice.pw_dir)
    write_as(alice, home / ".config/pgiam/config.toml",
             '[services.x]\nhost = "db1.abc123xyz.us-west-2.rds.amazonaws.com"\nuser = "u"\n')
    pgpass = home / ".pgpass"
    write_as(alice, pgpass, "h:1:d:u:keep-me\n")
    before = pgpass.read_bytes()
    r = run_pgiam(["refresh"], {"HOME": str(home), "AWS_ACCESS_KEY_ID": "AKIDX", "AWS_SECRET_ACCESS_KEY": "s",
                                "PGIAM_SITE_CONFIG": ""})
    assert r.returncode == 1
    assert "--user" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert pgpass.read_bytes() == before
    assert pgpass.stat().st_uid == alice.pw_uid


def test_only_root_may_act_as_another_user(users: list[pwd.struct_passwd]) -> None:
    alice, bob = users
    r = subprocess.run(
        [RUNUSER, "-u", alice.pw_name, "--", *interpreter(), "-m", "pgiam", "--user", bob.pw_name, "status"],
        capture_output=True, text=True, timeout=60, check=False, cwd="/",
        env={"HOME": alice.pw_dir, "PATH": "/usr/bin:/bin", "PYTHONPATH": readable_path()},
    )
    assert r.returncode == 2
    assert "only root" in r.stderr
    r = run_pgiam(["--user", "no-such-user-pgiam", "status"], {})
    assert r.returncode == 2 and "no such Unix user" in r.stderr
