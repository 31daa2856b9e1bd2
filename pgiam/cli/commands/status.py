"""`pgiam status [--json [--details]]`: one row per service, no network, no botocore.

Output forms:
- stdout is a terminal: an aligned table (state coloured unless NO_COLOR is set or TERM=dumb), the
  last error of failing services, then the files in use.
- stdout is not a terminal (pipes, cron): tab-separated lines, a header line first, the same columns
  as the table plus `error`, no padding, no colour; `-` marks an empty cell.
- `--json`: an array of objects with exactly the keys name, host, port, user, dbname, expires_at,
  state (+ error when state is "error"); `--details` adds profile, credential_source, last_refresh,
  last_error, sslrootcert and files {config, pgpass, service_file, state}.
"""

from __future__ import annotations

import json
import os
from typing import Any

from pgiam import atomic
from pgiam.aws import tokeninfo
from pgiam.errors import PgiamError
from pgiam.flow import refresh, state
from pgiam.flow.context import Context

KEYS = ("name", "host", "port", "user", "dbname", "expires_at", "state")
DETAIL_KEYS = ("profile", "credential_source", "last_refresh", "last_error", "sslrootcert", "files")
# table / tab-separated columns: (key, header)
COLUMNS = (
    ("name", "NAME"), ("host", "HOST"), ("port", "PORT"), ("user", "USER"), ("dbname", "DBNAME"),
    ("expires_at", "EXPIRES"), ("state", "STATE"), ("profile", "PROFILE"), ("credential_source", "SOURCE"),
    ("last_refresh", "LAST REFRESH"),
)
_COLOURS = {"fresh": "32", "expiring": "33", "expired": "31", "missing": "31", "error": "1;31"}


def files(ctx: Context) -> dict[str, str]:
    return {
        "config": str(ctx.config_path), "pgpass": str(ctx.pgpass), "service_file": str(ctx.service_file),
        "state": str(ctx.state_path),
    }


def rows(ctx: Context, details: bool = False) -> list[dict[str, Any]]:
    ctx.require_config()
    cfg = ctx.load_config()
    data = atomic.read_file(ctx.pgpass)
    saved = state.load(ctx.state_path)
    now = ctx.now()
    out: list[dict[str, Any]] = []
    for svc in cfg.services.values():
        row: dict[str, Any] = {
            "name": svc.name, "host": svc.host, "port": svc.port, "user": refresh.db_user(svc),
            "dbname": svc.dbname, "expires_at": None, "state": refresh.MISSING,
        }
        last = saved.get(svc.name)
        try:
            cur = refresh.current(svc, data, last, now)
        except PgiamError as e:
            row.update(state=refresh.ERROR, error=str(e))
        else:
            row["state"] = cur.state
            row["expires_at"] = tokeninfo.iso(cur.expires_at) if cur.expires_at else None
            if cur.state != refresh.FRESH and last and last.last_error:
                row.update(state=refresh.ERROR, error=last.last_error)
        if details:
            row.update(
                profile=svc.profile, credential_source=last.credential_source if last else None,
                last_refresh=last.last_refresh if last else None,
                last_error=last.last_error if last else None, sslrootcert=svc.sslrootcert,
                files=files(ctx),
            )
        out.append(row)
    return out


def _cell(row: dict[str, Any], key: str) -> str:
    v = row.get(key)
    if key == "profile" and v is None:
        return "default"
    return "-" if v is None or v == "" else str(v)


def _colour_ok(ctx: Context) -> bool:
    env = ctx.platform.env
    return not env.get("NO_COLOR") and env.get("TERM", "") != "dumb"


def _table(ctx: Context, table: list[dict[str, Any]]) -> None:
    out = ctx.out.stdout
    cells = [[_cell(r, k) for k, _ in COLUMNS] for r in table]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h) in enumerate(COLUMNS)]
    print("  ".join(h.ljust(w) for (_, h), w in zip(COLUMNS, widths)).rstrip(), file=out)
    colour = _colour_ok(ctx)
    state_col = [k for k, _ in COLUMNS].index("state")
    for row in cells:
        parts = [v.ljust(w) for v, w in zip(row, widths)]
        code = _COLOURS.get(row[state_col])
        if colour and code:
            pad = " " * (widths[state_col] - len(row[state_col]))
            parts[state_col] = f"\033[{code}m{row[state_col]}\033[0m{pad}"
        print("  ".join(parts).rstrip(), file=out)
    for r in table:
        if "error" in r:
            print(f"{r['name']}: {r['error']}", file=out)
    f = files(ctx)
    print(f"files: config {f['config']}, pgpass {f['pgpass']}, service file {f['service_file']}, "
          f"state {f['state']}", file=out)


def _plain(ctx: Context, table: list[dict[str, Any]]) -> None:
    keys = [k for k, _ in COLUMNS] + ["error"]
    print("\t".join(keys), file=ctx.out.stdout)
    for r in table:
        print("\t".join(_cell(r, k).replace("\t", " ") for k in keys), file=ctx.out.stdout)


def run(ctx: Context, as_json: bool, details: bool = False) -> int:
    if details and not as_json:
        from pgiam.errors import UsageError

        raise UsageError("--details goes with --json; the table already shows everything")
    table = rows(ctx, details=details or not as_json)
    if as_json:
        print(json.dumps(table, indent=2), file=ctx.out.stdout)
        return 0
    if not table:
        print(f"no services in {ctx.config_path}", file=ctx.out.stdout)
        return 0
    if _isatty(ctx):
        _table(ctx, table)
    else:
        _plain(ctx, table)
    return 0


def _isatty(ctx: Context) -> bool:
    try:
        return ctx.out.stdout.isatty() and os.isatty(ctx.out.stdout.fileno())
    except (AttributeError, ValueError, OSError):
        return False
