"""`pgiam add NAME ...`: create a service, or change the settings given of an existing one (all of it
with --replace); then reconcile. Nothing is written unless the service works: every refusal and a
token that cannot be had leave every file as it was."""

from __future__ import annotations

from typing import Any

from pgiam.cli.commands.refresh import report
from pgiam.config import edit as configedit
from pgiam.config.model import NAME_RE, parse_toml
from pgiam.errors import ConfigError, UsageError
from pgiam.flow import lifecycle
from pgiam.flow.context import Context


def parse_sets(sets: list[str]) -> dict[str, str]:
    """`--set KEY=VALUE` pairs become extra libpq keywords of the stanza (`--set KEY=` drops KEY)."""
    out: dict[str, str] = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE, e.g. --set application_name=pgiam")
        if key.strip() in out:
            raise UsageError(f"--set {key.strip()}: given twice; keep one --set {key.strip()}=VALUE")
        out[key.strip()] = value
    return out


def _existing(text: str, name: str, ctx: Context) -> dict[str, Any] | None:
    """The service's own table in the user's config, when it has one."""
    if not text.strip() or configedit.find_span(text, name) is None:
        return None
    doc = parse_toml(text.encode("utf-8"), ctx.config_path)
    table = doc.get("services", {}).get(name)
    return dict(table) if isinstance(table, dict) else None


def merged_values(
    old: dict[str, Any] | None, given: dict[str, Any], sets: dict[str, str], replace: bool, name: str,
) -> dict[str, Any]:
    """What the service's table becomes: the given options over the old ones (all anew with replace)."""
    if old is None or replace:
        values = dict(given)
        if sets:
            values["libpq"] = {k: v for k, v in sets.items() if v != ""}
        missing = [k for k in ("host", "user") if k not in values]
        if missing:
            what = " and ".join(f"--{k}" for k in missing)
            raise UsageError(f"{name} is a new service: {what} {'are' if len(missing) > 1 else 'is'} required "
                             f"(pgiam add {name} --host ENDPOINT --user DBUSER; see `pgiam add --help`)")
        return values
    values = dict(old)
    values.update(given)
    if sets:
        libpq = dict(values.get("libpq") or {})
        for k, v in sets.items():
            if v == "":
                libpq.pop(k, None)
            else:
                libpq[k] = v
        if libpq:
            values["libpq"] = libpq
        else:
            values.pop("libpq", None)
    return values


def _changes(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    if old is None:
        return []
    out = []
    for k in dict.fromkeys([*old, *new]):
        a, b = old.get(k), new.get(k)
        if a != b:
            out.append(f"{k}: {'-' if a is None else a} → {'-' if b is None else b}")
    return out


def run(ctx: Context, name: str, values: dict[str, Any], sets: list[str], force: bool, replace: bool = False) -> int:
    if not NAME_RE.match(name):
        raise UsageError(f"service name {name!r} may only use letters, digits, '_', '.' and '-'")
    given = {k: v for k, v in values.items() if v is not None}
    extra = parse_sets(sets)
    seen: dict[str, Any] = {}

    def edit(text: str) -> str:
        old = _existing(text, name, ctx)
        new = merged_values(old, given, extra, replace, name)
        seen["old"], seen["new"] = old, new
        return configedit.set_service(text, name, new, ctx.config_path)

    try:
        outcomes = lifecycle.reconcile(ctx, names=[name], renew=True, force=force, edit=edit, strict=name)
    except ConfigError as e:
        raise ConfigError(f"{e} (nothing was saved)") from None
    changes = _changes(seen.get("old"), seen.get("new") or {})
    if seen.get("old") is not None and not changes:
        ctx.out.info(f"{name}: no settings changed in {ctx.config_path}")
    else:
        ctx.out.info(f"{name}: saved in {ctx.config_path}")
    for c in changes:
        ctx.out.info(f"{name}: {c}")
    _bundle_note(ctx, name, outcomes)
    report(ctx, outcomes)
    return lifecycle.exit_code(outcomes)


def _bundle_note(ctx: Context, name: str, outcomes: list[lifecycle.Outcome]) -> None:
    svc = next((o.svc for o in outcomes if o.name == name and o.svc is not None), None)
    if svc is None or svc.sslrootcert or svc.kind != "rds" or svc.sslmode == "require":
        return
    root = lifecycle.bundle(ctx)
    if root:
        ctx.out.info(f"{name}: sslrootcert = {root} (the RDS CA bundle from `pgiam ca install`)")
    else:
        ctx.out.warn(f"{name}: no CA bundle installed and no --sslrootcert given: libpq verifies the server "
                     "with ~/.postgresql/root.crt; run `pgiam ca install` to install the RDS CA bundle")
