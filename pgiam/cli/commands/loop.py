"""`pgiam refresh --every DURATION`: the foreground loop for containers and sidecars (no cron there).

Refreshes at once, then every DURATION (checked by the same rule as `schedule --every`: at least a
minute, and short enough that every token is renewed inside its refresh window), measured from the
start of each pass so passes do not drift. Prints one line per change or failure (`refresh`'s own
lines), keeps going after failures (a broken config included: it is read again on every pass), and
exits 0 promptly on SIGTERM or SIGINT: a pass under way finishes its writes first.
"""

from __future__ import annotations

import os
import select
import signal
import time
from types import FrameType

from pgiam.cli.commands import refresh as refresh_cmd
from pgiam.errors import PgiamError
from pgiam.flow import lifecycle
from pgiam.flow.context import Context
from pgiam.host import schedule


class _Stop:
    """SIGTERM/SIGINT set the flag; the wake-up pipe ends a sleep at once."""

    def __init__(self) -> None:
        self.requested = False
        self.r, self.w = os.pipe()
        os.set_blocking(self.w, False)
        os.set_blocking(self.r, False)
        self.old_fd = signal.set_wakeup_fd(self.w)
        self.old = {s: signal.signal(s, self._handle) for s in (signal.SIGTERM, signal.SIGINT)}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.requested:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            select.select([self.r], [], [], left)
            try:
                while os.read(self.r, 512):
                    pass
            except BlockingIOError:
                pass

    def close(self) -> None:
        for s, h in self.old.items():
            signal.signal(s, h)
        signal.set_wakeup_fd(self.old_fd)
        os.close(self.r)
        os.close(self.w)


def run(ctx: Context, names: list[str], force: bool, every_text: str) -> int:
    import gc

    gc.enable()  # (the one-shot entry point turns the collector off; this process lives on)
    every = schedule.parse_every(every_text)
    schedule.check_every(every, ctx.load_config().select(names))  # a bad interval or config: exit 2 now
    stop = _Stop()
    try:
        while not stop.requested:
            started = time.monotonic()
            _one_pass(ctx, names, force)
            stop.sleep(every - (time.monotonic() - started))
    finally:
        stop.close()
    return 0


def _one_pass(ctx: Context, names: list[str], force: bool) -> None:
    """One refresh; every failure becomes a line on stderr, never the end of the loop."""
    try:
        if not ctx.load_config().names:
            ctx.out.warn(f"no services in {ctx.config_path}; add one with `pgiam add NAME --host H --user U`")
            return
        outcomes = lifecycle.reconcile(ctx, names=names, renew=force, force=force)
        refresh_cmd.report(ctx, outcomes)
    except PgiamError as e:
        ctx.out.error(f"{e} (trying again at the next pass)")
    except Exception as e:  # keep the sidecar alive; say what broke, in one line
        ctx.out.error(f"refresh failed: {type(e).__name__}: {e} (trying again at the next pass)")
