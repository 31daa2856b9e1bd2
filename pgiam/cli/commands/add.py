"""`pgiam add NAME ...`: create or replace a service in the config, then refresh it at once."""

from __future__ import annotations

from typing import Any

from pgiam import atomic
from pgiam.cli.commands.refresh import report
from pgiam.config import edit as configedit
from pgiam.config.model import NAME_RE, build_services, parse_toml
from pgiam.errors import ConfigError, UsageError
from pgiam.flow import refresh
from pgiam.flow.context import Context
from pgiam.flow.desired import pgpass_key
from pgiam.host.ca import default_bundle
from pgiam.libpq import pgpass, servicefile


def parse_sets(sets: list[str]) -> dict[str, str]:
    """`--set KEY=VALUE` pairs become extra libpq keywords of the stanza."""
    out: dict[str, str] = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE, e.g. --set application_name=pgiam")
        if key.strip() in out:
            raise UsageError(f"--set {key.strip()}: given twice; keep one --set {key.strip()}=VALUE")
        out[key.strip()] = value
    return out


def run(ctx: Context, name: str, values: dict[str, Any], sets: list[str], force: bool) -> int:
    if not NAME_RE.match(name):
        raise UsageError(f"service name {name!r} may only use letters, digits, '_', '.' and '-'")
    values = {k: v for k, v in values.items() if v is not None}
    extra = parse_sets(sets)
    if extra:
        values["libpq"] = extra
    old = ctx.load_config()
    previous = old.services.get(name)

    def edit(data: bytes | None) -> bytes:
        text = (data or b"").decode("utf-8")
        return configedit.set_service(text, name, values, ctx.config_path).encode()

    # validate the new service as the full config will see it before touching any file
    current = atomic.read_file(ctx.config_path) or b""
    try:
        new_text = edit(current)
    except UnicodeDecodeError:
        raise ConfigError(f"{ctx.config_path}: not UTF-8 text; fix it by hand") from None
    layers = [(ctx.config_path, parse_toml(new_text, ctx.config_path))]
    site = ctx.site_config_path
    if site is not None and site.exists() and site.resolve() != ctx.config_path.resolve():
        layers.insert(0, (site, parse_toml(site.read_bytes(), site)))
    svc = build_services(layers)[name]
    bundle = default_bundle(ctx.platform)
    if svc.sslrootcert is None and svc.kind == "rds" and svc.sslmode != "require" and bundle.is_file():
        values["sslrootcert"] = str(bundle)  # installed by `pgiam ca install`
        layers[-1] = (ctx.config_path, parse_toml(edit(current), ctx.config_path))
        svc = build_services(layers)[name]
        ctx.out.info(f"{name}: sslrootcert = {bundle} (the RDS CA bundle from `pgiam ca install`)")

    # refuse a stanza pg_service.conf cannot hold (e.g. a line over 1021 bytes) before saving anything
    servicefile.upsert(b"", name, refresh.desired_stanza(svc, ctx))
    atomic.update_file(ctx.config_path, edit, private=False)
    ctx.out.info(f"{name}: saved in {ctx.config_path}")
    if previous is not None:
        old_key = pgpass_key(previous, refresh.db_user(previous))
        if old_key != pgpass_key(svc, refresh.db_user(svc)):
            atomic.update_file(ctx.pgpass, lambda d: pgpass.remove(d, old_key) if d is not None else None,
                               private=True)
    outcomes = refresh.execute(ctx, [svc], renew=True, takeover=force)
    report(ctx, outcomes)
    return refresh.exit_code(outcomes)
