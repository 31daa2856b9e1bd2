"""Pure: what `pgiam schedule` installs — systemd user units, a launchd plist, a crontab line.

Nothing here touches a file or runs a program (see pgiam/commands/schedule.py for that).

The interval rule. `refresh` renews a token once it has at most `refresh_before` seconds left. For a
valid token to be in place at every moment, some run must fall inside that last window of every
token: runs at most `refresh_before` seconds apart guarantee it (runs further apart can step over the
window: with 900 s tokens, a 300 s window and runs every 500 s, the runs at 0 and 500 leave the token
alone and the run at 1000 comes 100 s after it expired). A window as long as the token renews on
every run, and then runs must come before the token's end: the bound is min(refresh_before,
lifetime - 1) over all services. tests/test_schedule.py checks the rule against a simulation.
"""

from __future__ import annotations

import plistlib
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pgiam.config import kinds
from pgiam.config.model import DEFAULT_REFRESH_BEFORE, Service
from pgiam.errors import UsageError

BACKENDS = ("cron", "systemd", "launchd")
DEFAULT_EVERY = 300
MIN_EVERY = 60

UNIT = "pgiam-refresh"  # systemd: pgiam-refresh.service + pgiam-refresh.timer
LABEL = "pgiam.refresh"  # launchd: ~/Library/LaunchAgents/pgiam.refresh.plist
CRON_MARKER = "# pgiam-schedule"  # ends our crontab line (a shell comment for /bin/sh)
CRON_HEADER = "# pgiam: the next line is managed by `pgiam schedule install|remove`"

# settings a job carries explicitly when this shell has them (never credentials)
CARRIED = ("PGIAM_SITE_CONFIG", "PGIAM_STATE", "PGIAM_LIBPQ_VERSION", "XDG_STATE_HOME", "AWS_CONFIG_FILE",
           "AWS_SHARED_CREDENTIALS_FILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EC2_METADATA_DISABLED",
           "AWS_STS_REGIONAL_ENDPOINTS")
CRON_DAEMONS = frozenset({"cron", "crond", "cronie", "fcron", "dcron", "busybox-crond"})

_UNITS = {"s": 1, "m": 60, "h": 3600}
_EVERY_RE = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$")


# --------------------------------------------------------------------------- interval


def parse_every(text: str) -> int:
    """'5m', '300s', '300', '1h', '1h30m' -> seconds. UsageError for anything else."""
    t = text.strip().lower()
    m = _EVERY_RE.match(t)
    if not t or m is None or not any(m.groups()):
        raise UsageError(f"--every {text!r}: expected a duration like 5m, 300s or 1h")
    h, mi, s = (int(g) if g else 0 for g in m.groups())
    return h * 3600 + mi * 60 + s


def lifetime(svc: Service) -> int:
    """How long a token for this service lives."""
    return kinds.lifetime(svc.kind, svc.token_lifetime)


def max_every(services: Iterable[Service]) -> int:
    """The longest interval that still keeps a valid token in place for every service."""
    bounds = [min(svc.refresh_before, lifetime(svc) - 1) for svc in services]
    return min(bounds) if bounds else min(DEFAULT_REFRESH_BEFORE, kinds.KINDS["rds"].lifetime - 1)


def check_every(seconds: int, services: Sequence[Service]) -> int:
    """Refuse intervals that are too short to be sensible or too long to keep tokens valid."""
    if seconds < MIN_EVERY:
        raise UsageError(f"--every {human(seconds)}: run at most once a minute (--every 1m or more)")
    limit = max_every(services)
    if seconds > limit:
        worst = min(services, key=lambda s: min(s.refresh_before, lifetime(s) - 1), default=None)
        why = (
            f"service {worst.name!r} renews its {lifetime(worst)} s token {worst.refresh_before} s "
            "before expiry" if worst else "tokens are renewed 300 s before expiry"
        )
        raise UsageError(
            f"--every {human(seconds)} could leave an expired token in place ({why}); "
            f"use --every {human(limit)} or less, or raise refresh_before in the config"
        )
    return seconds


def human(seconds: int) -> str:
    """300 -> '5m', 90 -> '90s', 3600 -> '1h'."""
    if seconds % 3600 == 0 and seconds:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0 and seconds:
        return f"{seconds // 60}m"
    return f"{seconds}s"


# --------------------------------------------------------------------------- the job


@dataclass(frozen=True)
class Job:
    """What runs: argv (absolute program path first) and how often."""

    argv: tuple[str, ...]
    every: int  # seconds

    def __post_init__(self) -> None:
        for a in self.argv:
            if any(c in a for c in "\n\r\0"):
                raise UsageError(f"cannot schedule an argument with a newline or NUL: {a!r}")


def job_argv(program: Sequence[str], *, config: str, pgpass: str | None = None,
             service_file: str | None = None) -> tuple[str, ...]:
    """`<pgiam> --config PATH [--pgpass P] [--service-file S] refresh --quiet`."""
    argv = [*program, "--config", config]
    if pgpass:
        argv += ["--pgpass", pgpass]
    if service_file:
        argv += ["--service-file", service_file]
    return (*argv, "refresh", "--quiet")


# --------------------------------------------------------------------------- systemd


_SYSTEMD_SAFE = re.compile(r"^[A-Za-z0-9_@+=:,./-]+$")


def systemd_quote(arg: str) -> str:
    """One ExecStart= word: % and $ doubled (specifiers, variables), quoted when needed."""
    s = arg.replace("%", "%%").replace("$", "$$")
    if _SYSTEMD_SAFE.match(arg):
        return s
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_units(job: Job) -> dict[str, str]:
    """{'pgiam-refresh.service': text, 'pgiam-refresh.timer': text}."""
    exec_start = " ".join(systemd_quote(a) for a in job.argv)
    service = (
        "# Written by `pgiam schedule install`; remove with `pgiam schedule remove`.\n"
        "[Unit]\n"
        "Description=Refresh IAM database tokens in pgpass (pgiam)\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"ExecStart={exec_start}\n"
    )
    timer = (
        "# Written by `pgiam schedule install`; remove with `pgiam schedule remove`.\n"
        "[Unit]\n"
        f"Description=Run pgiam refresh every {human(job.every)}\n"
        "\n"
        "[Timer]\n"
        "OnBootSec=30s\n"
        "OnStartupSec=30s\n"
        f"OnUnitActiveSec={job.every}s\n"
        "AccuracySec=1s\n"
        f"Unit={UNIT}.service\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )
    return {f"{UNIT}.service": service, f"{UNIT}.timer": timer}


def systemd_every(timer_text: str) -> int | None:
    """The OnUnitActiveSec= of a timer we wrote (seconds), for `show`."""
    m = re.search(r"^OnUnitActiveSec=(\d+)s$", timer_text, re.M)
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------- launchd


def launchd_plist(job: Job, log_path: str) -> bytes:
    """A LaunchAgent: run at load, then every StartInterval seconds (coalesced after sleep)."""
    doc = {
        "Label": LABEL,
        "ProgramArguments": list(job.argv),
        "StartInterval": job.every,
        "RunAtLoad": True,
        "ProcessType": "Background",
        "StandardOutPath": log_path,
        "StandardErrorPath": log_path,
    }
    return plistlib.dumps(doc, fmt=plistlib.FMT_XML, sort_keys=True)


def launchd_read(data: bytes) -> dict[str, object] | None:
    """The plist's dict, or None when it does not parse."""
    try:
        doc = plistlib.loads(data)
    except Exception:
        return None
    return doc if isinstance(doc, dict) else None


# --------------------------------------------------------------------------- cron


def cron_timing(seconds: int) -> tuple[str, int]:
    """The five cron time fields for an interval, and the interval cron will really keep.

    cron counts whole minutes and restarts `*/N` every hour (or `*/H` every day), so the real gaps are
    never longer than asked, sometimes shorter. Intervals are rounded down, never up.
    """
    minutes = max(1, seconds // 60)
    if minutes < 60:
        return ("* * * * *" if minutes == 1 else f"*/{minutes} * * * *"), minutes * 60
    hours = min(minutes // 60, 23)
    return ("0 * * * *" if hours == 1 else f"0 */{hours} * * *"), hours * 3600


def _cron_word(arg: str) -> str:
    # cron turns an unescaped % into a newline; the rest goes to /bin/sh, so quote for sh
    return shlex.quote(arg).replace("%", "\\%")


def cron_line(job: Job) -> str:
    timing, _ = cron_timing(job.every)
    return f"{timing} {' '.join(_cron_word(a) for a in job.argv)} {CRON_MARKER}"


def _is_ours(line: str) -> bool:
    s = line.rstrip("\r")
    return s.rstrip().endswith(CRON_MARKER) or s.strip() == CRON_HEADER


def cron_find(text: str) -> list[str]:
    """Our job lines in a crontab (not the header comment)."""
    return [ln.rstrip("\r") for ln in text.split("\n") if _is_ours(ln) and ln.strip() != CRON_HEADER]


def cron_merge(text: str, line: str | None) -> str:
    """The crontab with every line of ours dropped and, when `line` is given, it appended.

    Every other line is kept byte for byte and in order; the result ends with a newline (cron ignores
    a last line without one).
    """
    kept = [ln for ln in re.findall(r"[^\n]*\n|[^\n]+$", text) if not _is_ours(ln)]
    if kept and not kept[-1].endswith("\n"):
        kept[-1] += "\n"
    if line is not None:
        kept += [CRON_HEADER + "\n", line + "\n"]
    return "".join(kept)


def cron_every(line: str) -> int | None:
    """The interval of one of our cron lines (seconds), for `show`."""
    fields = line.split()
    if len(fields) < 5:
        return None
    minute, hour = fields[0], fields[1]
    if minute == "*" and hour == "*":
        return 60
    if minute.startswith("*/") and hour == "*" and minute[2:].isdigit():
        return int(minute[2:]) * 60
    if minute == "0" and hour == "*":
        return 3600
    if minute == "0" and hour.startswith("*/") and hour[2:].isdigit():
        return int(hour[2:]) * 3600
    return None
