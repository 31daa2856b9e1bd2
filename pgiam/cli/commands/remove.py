"""`pgiam remove NAME`: the service's config table, then a reconcile: its stanza and pgpass entry go
(unless another service shares the entry), and what a forced `add` displaced comes back."""

from __future__ import annotations

from pgiam.config import edit as configedit
from pgiam.errors import ConfigError
from pgiam.flow import lifecycle
from pgiam.flow.context import Context


def run(ctx: Context, name: str) -> int:
    cfg = ctx.load_config()
    text = lifecycle.config_text(ctx)
    defined_here = bool(text.strip()) and configedit.find_span(text, name) is not None
    if not defined_here:
        if name in cfg.names:
            raise ConfigError(
                f"service {name!r} is not defined in {ctx.config_path} (it comes from the system-wide "
                f"config {ctx.site_config_path}); ask its administrator"
            )
        if not lifecycle.known(ctx, name):
            known = ", ".join(cfg.names) or "none"
            raise ConfigError(f"no service {name!r} in {ctx.config_path} (known: {known})")

    def edit(t: str) -> str:
        if not t.strip() or configedit.find_span(t, name) is None:
            return t  # (already gone: a concurrent remove, or only leftovers to clean)
        return configedit.remove_service(t, name, ctx.config_path)

    outcomes = lifecycle.reconcile(ctx, names=[], edit=edit, sign=False)
    failed = [o for o in outcomes if o.name == name and o.error is not None]
    for o in failed:
        ctx.out.error(f"{o.name}: {o.error}")
    what = "removed from" if defined_here else "leftovers removed from"
    ctx.out.info(f"{name}: {what} {ctx.config_path}, {ctx.pgpass} and {ctx.service_file}")
    return 0
