"""`pgiam refresh [NAME ...] [--force]`."""

from __future__ import annotations

from pgiam import fastpath
from pgiam.aws import tokeninfo
from pgiam.flow import refresh
from pgiam.flow.context import Context


def run(ctx: Context, names: list[str], force: bool) -> int:
    snap = fastpath.begin(ctx)  # before anything is read: the inputs the no-op gate will compare
    services = ctx.load_config().select(names)
    if not services:
        ctx.out.warn(f"no services in {ctx.config_path}; add one with `pgiam add NAME --host H --user U`")
        fastpath.record(ctx, snap, [])
        return 0
    outcomes = refresh.execute(ctx, services, renew=force, takeover=force)
    report(ctx, outcomes)
    fastpath.record(ctx, snap, outcomes)
    code = refresh.exit_code(outcomes)
    if code == 0 and any(o.action == "refreshed" for o in outcomes):
        ctx.keep_config_cache()  # (a run that wrote tokens anyway: the next batch parses no TOML)
    return code


def report(ctx: Context, outcomes: list[refresh.Outcome]) -> None:
    for o in outcomes:
        until = f" (valid until {tokeninfo.iso(o.expires_at)})" if o.expires_at else ""
        if o.action == "refreshed":
            ctx.out.info(f"{o.svc.name}: refreshed{until}")
        elif o.action == "stanza":
            ctx.out.info(f"{o.svc.name}: stanza updated, token still fresh{until}")
        elif o.action == "fresh":
            ctx.out.detail(f"{o.svc.name}: fresh{until}, nothing to do")
        elif o.error is not None:
            ctx.out.error(f"{o.svc.name}: {o.error}")
