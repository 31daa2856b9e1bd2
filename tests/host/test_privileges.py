"""--user NAME: the refusals that need no privilege change (the drop itself is covered by test_bastion)."""

from __future__ import annotations

import os
import pwd

import pytest

from pgiam.errors import UsageError
from pgiam.host.privileges import drop_to


def test_unknown_user_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as e:
        drop_to("no-such-user-pgiam")
    assert str(e.value) == "--user no-such-user-pgiam: no such Unix user" and e.value.exit_code == 2


def test_acting_as_oneself_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSFILE", "/kept/pgpass")
    before = (os.getuid(), os.geteuid(), os.getgid(), dict(os.environ))
    drop_to(pwd.getpwuid(os.geteuid()).pw_name)
    assert (os.getuid(), os.geteuid(), os.getgid(), dict(os.environ)) == before


def _non_root_asks_for_root() -> str:
    """drop_to("root") from a process that is not root; when the tests run as root, from a forked child
    that first becomes nobody (the parent is untouched)."""
    if os.geteuid() != 0:
        try:
            drop_to("root")
        except UsageError as e:
            return str(e)
        return "no error"
    nobody = pwd.getpwnam("nobody")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        msg = "no error"
        try:
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            drop_to("root")
        except UsageError as e:
            msg = str(e)
        except BaseException as e:
            msg = f"unexpected {type(e).__name__}: {e}"
        os.write(w, msg.encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read().decode()
    os.waitpid(pid, 0)
    return out


def test_only_root_may_act_as_another_user() -> None:
    assert _non_root_asks_for_root() == (
        "--user root: only root can act as another user; run it as root instead"
    )


def test_user_environ_is_what_apply_environ_leaves(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment --all-users hands to a child's no-op gate is the one drop_to would set."""
    from types import SimpleNamespace

    from pgiam.host import privileges

    base = {"PATH": "/usr/bin", "HOME": "/root", "AWS_PROFILE": "roots", "AWS_REGION": "eu-west-1",
            "PGHOST": "x", "PGIAM_SITE_CONFIG": "/etc/pgiam/config.toml", "XDG_CONFIG_HOME": "/root/.config",
            "PGIAM_CONFIG": "/root/c.toml", "LANG": "C.UTF-8", "AWS_EC2_METADATA_DISABLED": "true"}
    entry = SimpleNamespace(pw_dir="/home/ann", pw_name="ann")
    want = privileges.user_environ(entry, base)
    for k in list(os.environ):
        monkeypatch.delenv(k)
    for k, v in base.items():
        monkeypatch.setenv(k, v)
    privileges.apply_environ(entry)
    assert dict(os.environ) == want
    assert want["HOME"] == "/home/ann" and "AWS_PROFILE" not in want and want["AWS_REGION"] == "eu-west-1"
