"""`pgiam status [--json]`: one row per service, no network, no botocore."""

from __future__ import annotations

import json
from typing import Any

from pgiam import atomic, refresh, state, tokeninfo
from pgiam.context import Context
from pgiam.errors import PgiamError

KEYS = ("name", "host", "port", "user", "dbname", "expires_at", "state")


def rows(ctx: Context) -> list[dict[str, Any]]:
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
        try:
            cur = refresh.current(svc, data, saved.get(svc.name), now)
        except PgiamError as e:
            row.update(state=refresh.ERROR, error=str(e))
        else:
            row["state"] = cur.state
            row["expires_at"] = tokeninfo.iso(cur.expires_at) if cur.expires_at else None
            last = saved.get(svc.name)
            if cur.state != refresh.FRESH and last and last.last_error:
                row.update(state=refresh.ERROR, error=last.last_error)
        out.append(row)
    return out


def run(ctx: Context, as_json: bool) -> int:
    table = rows(ctx)
    if as_json:
        print(json.dumps(table, indent=2), file=ctx.out.stdout)
        return 0
    if not table:
        print(f"no services in {ctx.config_path}", file=ctx.out.stdout)
        return 0
    cols = list(KEYS)
    cells = [[str(r[c]) if r[c] is not None else "-" for c in cols] for r in table]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(cols, widths)).rstrip(), file=ctx.out.stdout)
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip(), file=ctx.out.stdout)
    for r in table:
        if "error" in r:
            print(f"{r['name']}: {r['error']}", file=ctx.out.stdout)
    return 0
