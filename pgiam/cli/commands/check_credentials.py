"""`pgiam check-credentials [NAME ...]`: STS GetCallerIdentity once per distinct profile in use.

Opt-in preflight (signing itself needs no network): prints who the credentials belong to, where
they came from and when they expire, so a wrong or short-lived identity shows up before connect time.
"""

from __future__ import annotations

import json
from typing import Any

from pgiam.aws import tokeninfo
from pgiam.errors import PgiamError
from pgiam.flow.context import Context


def _label(profile: str | None) -> str:
    return profile if profile is not None else "(default chain)"


def check(ctx: Context, names: list[str]) -> list[dict[str, Any]]:
    """One row per distinct profile of the selected services (the default chain when none)."""
    from pgiam.aws.credentials import CredentialCache, caller_identity

    ctx.require_config()
    services = ctx.load_config().select(names)
    profiles: dict[str | None, list[str]] = {}
    from pgiam.config.clouds import CLOUD_KINDS

    for svc in services:
        if svc.kind in CLOUD_KINDS:  # no AWS credentials involved (`pgiam doctor` checks their tokens)
            continue
        profiles.setdefault(svc.profile, []).append(svc.name)
    if not services:
        profiles[None] = []
    cache = CredentialCache(timeout=ctx.credential_timeout)
    rows: list[dict[str, Any]] = []
    for profile, users in profiles.items():
        row: dict[str, Any] = {
            "profile": profile,
            "services": users,
            "arn": None,
            "account": None,
            "source": None,
            "expires_at": None,
            "error": None,
        }
        try:
            creds = cache.get(profile)
            row["source"] = creds.source
            row["expires_at"] = tokeninfo.iso(creds.expiry) if creds.expiry else None
            row["arn"], row["account"] = caller_identity(cache, profile)
        except PgiamError as e:
            row["error"] = str(e)
        rows.append(row)
    return rows


def run(ctx: Context, names: list[str], as_json: bool = False) -> int:
    rows = check(ctx, names)
    if as_json:
        print(json.dumps(rows, indent=2), file=ctx.out.stdout)
    for r in rows:
        who = _label(r["profile"])
        if r["error"]:
            ctx.out.error(r["error"])
            continue
        if as_json:
            continue
        until = f"expires {r['expires_at']}" if r["expires_at"] else "long-lived keys (no expiry)"
        used = f" [{', '.join(r['services'])}]" if r["services"] else ""
        print(f"{who}: {r['arn']} (source {r['source']}, {until}){used}", file=ctx.out.stdout, flush=True)
    return 1 if any(r["error"] for r in rows) else 0
