"""`--user NAME`: root drops to another Unix user before reading credentials or touching files."""

from __future__ import annotations

import os

from pgiam.errors import UsageError

TYPE_CHECKING = False  # (not typing's: --all-users imports this module in its small parent)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

_DROPPED = ("AWS_", "PG", "XDG_", "PGIAM_")  # root's settings of these kinds never reach the user's run
# Settings that describe the machine rather than the user survive the drop.
_KEEP = frozenset({"AWS_EC2_METADATA_DISABLED", "AWS_REGION", "AWS_DEFAULT_REGION", "PGIAM_SITE_CONFIG",
                   "PGIAM_LIBPQ_VERSION"})


def drop_to(name: str, entry: Any = None) -> None:
    """setgid/initgroups/setuid to NAME and point HOME (and USER/LOGNAME) at its home directory.

    entry: NAME's passwd entry when the caller has it already (--all-users read them all at once)."""
    dropped = drop_ids(name, entry)
    if dropped is not None:
        check_python(name)
        apply_environ(dropped)


def drop_ids(name: str, entry: Any = None) -> Any:
    """The groups and ids of drop_to: NAME's passwd entry once they are NAME's, None when this process
    runs as NAME already (nothing to drop)."""
    try:
        import pwd
    except ImportError:  # pragma: no cover - Windows
        raise UsageError("--user works on Unix only") from None
    try:
        if entry is None or entry.pw_name != name:
            entry = pwd.getpwnam(name)
    except KeyError:
        raise UsageError(f"--user {name}: no such Unix user") from None
    if os.geteuid() == entry.pw_uid:
        return None
    if os.geteuid() != 0:
        raise UsageError(f"--user {name}: only root can act as another user; run it as {name} instead")
    os.initgroups(entry.pw_name, entry.pw_gid)
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    if os.getuid() == 0 or os.geteuid() == 0:  # pragma: no cover - defensive
        raise UsageError(f"--user {name}: could not drop root privileges")
    return entry


def check_python(name: str) -> None:
    """After the drop: the user can read the Python pgiam runs on (else every import would fail)."""
    stdlib = os.path.dirname(os.__file__)
    if not os.access(stdlib, os.R_OK | os.X_OK):
        raise UsageError(
            f"--user {name}: this pgiam runs on a Python under {stdlib}, which {name} cannot read; "
            "install pgiam where every user can read it (e.g. pip install into /usr/local or /opt)"
        )


def user_environ(entry: Any, base: Mapping[str, str]) -> dict[str, str]:
    """The environment of a run as the user of ``entry``: HOME, USER and LOGNAME are theirs, and
    nothing of root's own setup leaks into it (their files, their AWS credentials). With no entry:
    only what of ``base`` any user's run keeps."""
    env = {k: v for k, v in base.items() if k in _KEEP or not k.startswith(_DROPPED)}
    if entry is not None:
        env.update(HOME=entry.pw_dir, USER=entry.pw_name, LOGNAME=entry.pw_name)
    return env


def apply_environ(entry: Any) -> None:
    """Make os.environ what user_environ says."""
    os.environ.update(HOME=entry.pw_dir, USER=entry.pw_name, LOGNAME=entry.pw_name)
    for var in list(os.environ):
        if var not in _KEEP and var.startswith(_DROPPED):
            del os.environ[var]
