"""One unattended `refresh` at a time: a scheduled run that finds the previous one still running
exits at once instead of piling up behind it (cron starts a new one every few minutes, forever)."""

from __future__ import annotations

from typing import Callable

from pgiam import atomic
from pgiam.errors import PgiamError

LOCK_NAME = "refresh.run"  # in pgiam's own locks/ directory (beside the state file); never deleted


class StillRunning(PgiamError):
    """The previous unattended refresh still holds the run lock (exit 1; nothing was done)."""


def acquire() -> Callable[[], None]:
    """Take the run lock without waiting; StillRunning when another run holds it."""
    release, path = atomic.try_lock(LOCK_NAME)
    if release is None:
        raise StillRunning(
            f"the previous `pgiam refresh --quiet` is still running (it holds {path}); this run did "
            "nothing — if it hangs, find it with `pgrep -af 'pgiam.*refresh'` and stop it"
        )
    return release
