"""`pgiam status [NAME...] [--json] [--details] [--wide]`: one row per service, no network, no botocore.

Fields (the same in every form, with the same values):
  name, state, expires_at (ISO-8601 Z), expires_in (seconds left, negative once expired), host (the name
  libpq verifies and the token is signed for), port (the port libpq dials: a tunnel's local port when
  set), user, dbname, error (the last refresh error, also while the token is still fresh; null when none).
`--details` adds profile, credential_source, last_refresh, hostaddr, signed_port, sslrootcert and files.

Output forms:
- stdout is a terminal: an aligned table that fits the terminal (80 columns when unknown): NAME, STATE,
  LEFT (time left, "12m"), EXPIRES, PORT, USER, DBNAME; `--wide` adds HOST and never shortens a cell;
  `--details` adds PROFILE, SOURCE, LAST REFRESH and the files in use. Errors follow the table.
- not a terminal (pipes, cron): tab-separated lines, a header line of field names first, no colour;
  `-` marks an empty cell.
- `--json`: an array of objects.

Exit status (for monitoring, e.g. `pgiam status -q || alert`): 0 when every selected service is fresh or
expiring, 1 when any is expired, missing or in error; 2 on usage or configuration errors. With --quiet
(and no --json) nothing is printed but one `pgiam: error: NAME: STATE[: error]` line per such service.
"""

from __future__ import annotations

import json
import os
from typing import Any

from pgiam.aws import tokeninfo
from pgiam.flow import desired, lifecycle, state
from pgiam.flow.context import Context
from pgiam.flow.plan import Health

KEYS = ("name", "state", "expires_at", "expires_in", "host", "port", "user", "dbname", "error")
DETAIL_KEYS = ("profile", "credential_source", "last_refresh", "hostaddr", "signed_port", "sslrootcert", "files")
OK_STATES = (str(Health.FRESH), str(Health.EXPIRING))
# table columns: (key, header); LEFT renders expires_in, EXPIRES renders expires_at
NARROW = (("name", "NAME"), ("state", "STATE"), ("expires_in", "LEFT"), ("expires_at", "EXPIRES"),
          ("port", "PORT"), ("user", "USER"), ("dbname", "DBNAME"))
WIDE_EXTRA = (("host", "HOST"),)
DETAIL_COLUMNS = (("profile", "PROFILE"), ("credential_source", "SOURCE"), ("last_refresh", "LAST REFRESH"))
# columns that may be shortened (with "…") to fit the terminal, in the order they give way
_SHRINKABLE = ("host", "dbname", "user", "name", "profile", "last_refresh")
_COLOURS = {"fresh": "32", "expiring": "33", "expired": "31", "missing": "31", "error": "1;31"}


def files(ctx: Context) -> dict[str, str]:
    return {
        "config": str(ctx.config_path), "pgpass": str(ctx.pgpass), "service_file": str(ctx.service_file),
        "state": str(ctx.state_path),
    }


def rows(ctx: Context, names: list[str] | None = None, details: bool = False) -> list[dict[str, Any]]:
    ctx.require_config()
    cfg, verdicts = lifecycle.health(ctx, names or None)
    saved = state.load(ctx.state_path).services
    by_name = {v.svc.name: v for v in verdicts}
    now = ctx.now()
    out: list[dict[str, Any]] = []
    for name in (names or cfg.names):
        v = by_name.get(name)
        last = saved.get(name)
        row: dict[str, Any] = {"name": name, "state": str(Health.ERROR), "expires_at": None, "expires_in": None,
                               "host": None, "port": None, "user": None, "dbname": None, "error": None}
        if v is None:  # an invalid config entry: its reason is the error
            row["error"] = str(cfg.broken[name])
        else:
            svc = v.svc
            row.update(state=str(v.health), host=svc.host, port=svc.dial_port, user=desired.db_user(svc),
                       dbname=svc.dbname)
            if v.expires_at is not None:
                row["expires_at"] = tokeninfo.iso(v.expires_at)
                row["expires_in"] = int((v.expires_at - now).total_seconds())
            if v.error is not None:
                row.update(state=str(Health.ERROR), error=str(v.error))
            elif last and last.last_error:
                row["error"] = last.last_error  # shown even while the token is still fresh
                if row["state"] not in OK_STATES:
                    row["state"] = str(Health.ERROR)
        if details:
            svc_d = v.svc if v is not None else None
            row.update(
                profile=svc_d.profile if svc_d else None, credential_source=last.credential_source if last else None,
                last_refresh=last.last_refresh if last else None, hostaddr=svc_d.hostaddr if svc_d else None,
                signed_port=svc_d.port if svc_d else None, sslrootcert=svc_d.sslrootcert if svc_d else None,
                files=files(ctx),
            )
        out.append(row)
    return out


def left(seconds: int | None) -> str:
    """Time left, short: 45s, 12m, 2h05m, 3d4h; negative once expired (-7m)."""
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    s = abs(seconds)
    if s < 60:
        text = f"{s}s"
    elif s < 3600:
        text = f"{s // 60}m"
    elif s < 86400:
        text = f"{s // 3600}h{s % 3600 // 60:02d}m"
    else:
        text = f"{s // 86400}d{s % 86400 // 3600}h"
    return sign + text


def _cell(row: dict[str, Any], key: str, table: bool) -> str:
    v = row.get(key)
    if table and key == "expires_in":
        return left(v)
    if table and key in ("expires_at", "last_refresh") and isinstance(v, str):
        return v.replace("T", " ")[:16] + "Z" if len(v) == 20 else v  # minutes are enough on screen
    if key == "profile" and v is None:
        return "default"
    return "-" if v is None or v == "" else str(v)


def _colour_ok(ctx: Context) -> bool:
    env = ctx.platform.env
    return not env.get("NO_COLOR") and env.get("TERM", "") != "dumb"


def _terminal_width(ctx: Context) -> int:
    env = ctx.platform.env.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return os.get_terminal_size(ctx.out.stdout.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _fit(columns: list[tuple[str, str]], cells: list[list[str]], width: int) -> list[int]:
    """Column widths, shrinking the shrinkable columns (never below their header) to fit `width`."""
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h) in enumerate(columns)]
    keys = [k for k, _ in columns]
    total = sum(widths) + 2 * (len(widths) - 1)
    for key in _SHRINKABLE:
        if total <= width or key not in keys:
            continue
        i = keys.index(key)
        floor = max(len(columns[i][1]), 4)
        cut = min(total - width, widths[i] - floor)
        if cut > 0:
            widths[i] -= cut
            total -= cut
    return widths


def _table(ctx: Context, table: list[dict[str, Any]], *, wide: bool, details: bool) -> None:
    out = ctx.out.stdout
    columns = list(NARROW) + (list(WIDE_EXTRA) if wide or details else []) + (list(DETAIL_COLUMNS) if details
                                                                                else [])
    cells = [[_cell(r, k, True) for k, _ in columns] for r in table]
    width = 10**6 if wide else _terminal_width(ctx)
    widths = _fit(columns, cells, width)
    print("  ".join(h.ljust(w) for (_, h), w in zip(columns, widths)).rstrip(), file=out)
    colour = _colour_ok(ctx)
    state_col = [k for k, _ in columns].index("state")
    for row in cells:
        parts = [_shorten(v, w).ljust(w) for v, w in zip(row, widths)]
        code = _COLOURS.get(row[state_col])
        if colour and code:
            pad = " " * (widths[state_col] - len(row[state_col]))
            parts[state_col] = f"\033[{code}m{row[state_col]}\033[0m{pad}"
        print("  ".join(parts).rstrip(), file=out)
    for r in table:
        if r.get("error"):
            print(_wrap(f"{r['name']}: {r['error']}", width), file=out)
    if details:
        f = files(ctx)
        print(_wrap(f"files: config {f['config']}, pgpass {f['pgpass']}, service file {f['service_file']}, "
                    f"state {f['state']}", width), file=out)


def _wrap(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    import textwrap

    return "\n".join(textwrap.wrap(text, width, subsequent_indent="  ", break_on_hyphens=False))


def _plain(ctx: Context, table: list[dict[str, Any]], details: bool) -> None:
    keys = list(KEYS) + ([k for k in DETAIL_KEYS if k != "files"] if details else [])
    print("\t".join(keys), file=ctx.out.stdout)
    for r in table:
        print("\t".join(_cell(r, k, False).replace("\t", " ") for k in keys), file=ctx.out.stdout)


def exit_status(table: list[dict[str, Any]]) -> int:
    """0 when every row is fresh or expiring, else 1 (for monitoring)."""
    return 0 if all(r["state"] in OK_STATES for r in table) else 1


def run(ctx: Context, as_json: bool, details: bool = False, names: list[str] | None = None,
        wide: bool = False) -> int:
    table = rows(ctx, names, details=details)
    if ctx.out.quiet and not as_json:  # for monitoring: nothing when all is well, a line per problem
        for r in table:
            if r["state"] not in OK_STATES:
                ctx.out.error(f"{r['name']}: {r['state']}" + (f": {r['error']}" if r.get("error") else ""))
        return exit_status(table)
    if as_json:
        print(json.dumps(table, indent=2), file=ctx.out.stdout)
        return exit_status(table)
    if not table:
        print(f"no services in {ctx.config_path}", file=ctx.out.stdout)
        return 0
    if _isatty(ctx):
        _table(ctx, table, wide=wide, details=details)
    else:
        _plain(ctx, table, details)
    return exit_status(table)


def _isatty(ctx: Context) -> bool:
    try:
        return ctx.out.stdout.isatty() and os.isatty(ctx.out.stdout.fileno())
    except (AttributeError, ValueError, OSError):
        return False
