"""`pgiam remove NAME`: the service's config table, its stanza and its pgpass entry, nothing else."""

from __future__ import annotations

from pgiam import atomic
from pgiam.config import edit as configedit
from pgiam.errors import ConfigError
from pgiam.flow import refresh, state
from pgiam.flow.context import Context
from pgiam.flow.desired import pgpass_key
from pgiam.libpq import pgpass, servicefile


def run(ctx: Context, name: str) -> int:
    cfg = ctx.load_config()
    svc = cfg.select([name])[0]
    text = atomic.read_file(ctx.config_path)
    if text is None or configedit.find_span(text.decode("utf-8", "replace"), name) is None:
        raise ConfigError(
            f"service {name!r} is not defined in {ctx.config_path} (it comes from the system-wide "
            f"config {ctx.site_config_path}); ask its administrator"
        )
    atomic.update_file(
        ctx.config_path,
        lambda d: configedit.remove_service((d or b"").decode("utf-8"), name, ctx.config_path).encode(),
        private=False,
    )
    key = pgpass_key(svc, refresh.db_user(svc))
    atomic.update_file(ctx.pgpass, lambda d: _drop_empty(pgpass.remove(d, key)) if d is not None else None,
                       private=True)

    def edit_services(d: bytes | None) -> bytes | None:
        if d is None or servicefile.is_managed(d, name) is not True:
            return d
        return _drop_empty(servicefile.remove(d, name))

    atomic.update_file(ctx.service_file, edit_services, private=False)
    state.update(ctx.state_path, {}, removed=(name,))
    ctx.out.info(f"{name}: removed from {ctx.config_path}, {ctx.pgpass} and {ctx.service_file}")
    return 0


def _drop_empty(data: bytes) -> bytes | None:
    """A file left empty by removing pgiam's only content is removed, as it was before `add`."""
    return data if data else None
