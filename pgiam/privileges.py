"""`--user NAME`: root drops to another Unix user before reading credentials or touching files."""

from __future__ import annotations

import os

from pgiam.errors import UsageError


def drop_to(name: str) -> None:
    """setgid/initgroups/setuid to NAME and point HOME (and USER/LOGNAME) at its home directory."""
    try:
        import pwd
    except ImportError:  # pragma: no cover - Windows
        raise UsageError("--user works on Unix only") from None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise UsageError(f"--user {name}: no such Unix user") from None
    if os.geteuid() == entry.pw_uid:
        return
    if os.geteuid() != 0:
        raise UsageError(f"--user {name}: only root can act as another user; run it as {name} instead")
    os.initgroups(entry.pw_name, entry.pw_gid)
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    if os.getuid() == 0 or os.geteuid() == 0:  # pragma: no cover - defensive
        raise UsageError(f"--user {name}: could not drop root privileges")
    os.environ.update(HOME=entry.pw_dir, USER=entry.pw_name, LOGNAME=entry.pw_name)
    for var in ("PGPASSFILE", "PGSERVICEFILE", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "PGIAM_CONFIG",
                "PGIAM_STATE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        os.environ.pop(var, None)
