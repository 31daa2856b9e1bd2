"""`pgiam refresh [NAME ...] [--force]`."""

from __future__ import annotations

from pgiam import fastpath
from pgiam.flow import lifecycle
from pgiam.flow.context import Context


def run(ctx: Context, names: list[str], force: bool) -> int:
    if not ctx.out.quiet:
        return _run(ctx, names, force)
    # unattended (the scheduled job runs `refresh --quiet`): never pile up behind a stuck run
    from pgiam.host import runlock

    release = runlock.acquire()
    try:
        return _run(ctx, names, force)
    finally:
        release()


def _run(ctx: Context, names: list[str], force: bool) -> int:
    snap = fastpath.begin(ctx)  # before anything is read: the inputs the no-op gate will compare
    ctx.require_config()
    cfg = ctx.load_config()
    cfg.check_names(names)
    if not cfg.names:
        ctx.out.warn(f"no services in {ctx.config_path}; add one with `pgiam add NAME --host H --user U`")
        fastpath.record(ctx, snap, [])
        return 0
    outcomes = lifecycle.reconcile(ctx, names=names, renew=force, force=force)
    report(ctx, outcomes)
    fastpath.record(ctx, snap, outcomes)
    code = lifecycle.exit_code(outcomes)
    if code == 0 and any(o.action is lifecycle.Action.REFRESHED for o in outcomes):
        ctx.keep_caches()  # (a run that wrote tokens anyway: the next one parses no TOML, runs no pg_config)
    return code


def report(ctx: Context, outcomes: list[lifecycle.Outcome]) -> None:
    from pgiam.aws.tokeninfo import iso

    for o in outcomes:
        if ctx.out.quiet and o.error is None:
            continue  # (only errors are printed under --quiet)
        until = f" (valid until {iso(o.expires_at)})" if o.expires_at else ""
        if o.action is lifecycle.Action.REFRESHED:
            ctx.out.info(f"{o.name}: refreshed{until}")
        elif o.action is lifecycle.Action.STANZA:
            ctx.out.info(f"{o.name}: stanza updated, token still fresh{until}")
        elif o.action is lifecycle.Action.FRESH:
            ctx.out.detail(f"{o.name}: fresh{until}, nothing to do")
        elif o.error is not None:
            ctx.out.error(f"{o.name}: {o.error}")
