"""plan → provider → edit → atomic: the orchestration behind `refresh` and `add`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pgiam import atomic
from pgiam.aws import tokeninfo
from pgiam.config.model import Service
from pgiam.errors import PgiamError
from pgiam.flow import state
from pgiam.flow.desired import pgpass_key, stanza_params
from pgiam.libpq import bulk, pgpass, servicefile

if TYPE_CHECKING:
    from pgiam.aws.credentials import CredentialCache
    from pgiam.flow.context import Context
    from pgiam.providers.base import Token

FRESH, EXPIRING, EXPIRED, MISSING, ERROR = "fresh", "expiring", "expired", "missing", "error"


@dataclass(frozen=True)
class Current:
    """What the pgpass file holds for a service right now."""

    state: str  # fresh | expiring | expired | missing | error
    expires_at: datetime | None
    reason: str = ""


def db_user(svc: Service) -> str:
    """The database user the pgpass entry and stanza carry (Redshift prefixes IAM:/IAMA: users)."""
    if svc.kind.startswith("redshift"):
        from pgiam.aws.redshift import expected_user

        return expected_user(svc)
    return svc.user


def token_expiry(token: str, svc: Service, saved: state.ServiceState | None) -> tuple[datetime | None, str]:
    """Effective expiry of a stored token: what it encodes, capped by the recorded credential expiry.

    Returns (None, why) when the token cannot be trusted for this service.
    """
    expires: datetime | None = None
    info = tokeninfo.decode(token)
    if info is not None:
        want_host = svc.sign_host if svc.kind == "dsql" else f"{svc.sign_host}:{svc.port}"
        if info.host.lower() != want_host.lower():
            return None, f"token is signed for {info.host}, not {want_host}"
        if info.user is not None and info.user != svc.user:
            return None, f"token is for user {info.user!r}, not {svc.user!r}"
        expires = info.expires_at
    if saved and saved.expires_at:
        recorded = tokeninfo.parse_iso(saved.expires_at)
        # the record can only lower the expiry: hash the token (which imports hashlib and OpenSSL on the
        # no-op path) only when it would
        if (recorded is not None and (expires is None or recorded < expires)
                and saved.token_sha256 == state.token_hash(token)):
            expires = recorded
    if expires is None:
        return None, "the stored password's expiry is unknown"
    return expires, ""


def current(
    svc: Service, pgpass_data: bytes | None, saved: state.ServiceState | None, now: datetime
) -> Current:
    """Classify the stored entry: fresh, expiring (inside the refresh window), expired or missing."""
    found = bulk.pgpass_find(pgpass_data or b"", pgpass_key(svc, db_user(svc)))
    if found is None:
        return Current(MISSING, None, "no pgpass entry")
    expires, why = token_expiry(found[1], svc, saved)
    if expires is None:
        return Current(EXPIRED, None, why)
    if expires <= now:
        return Current(EXPIRED, expires, "expired")
    if expires - now <= timedelta(seconds=svc.refresh_before):
        return Current(EXPIRING, expires, "expiring")
    return Current(FRESH, expires)


@dataclass
class Outcome:
    svc: Service
    action: str  # "refreshed" | "fresh" | "failed" | "stanza"
    expires_at: datetime | None = None
    error: PgiamError | None = None
    token: Token | None = None


@dataclass
class Plan:
    """Which services need a new token, which only need their stanza rewritten."""

    tokens: list[Service] = field(default_factory=list)
    stanzas: list[Service] = field(default_factory=list)
    fresh: list[tuple[Service, datetime | None]] = field(default_factory=list)
    refused: list[tuple[Service, PgiamError]] = field(default_factory=list)


def passfile_for(ctx: Context) -> str | None:
    return None if ctx.pgpass_is_default else str(ctx.pgpass.absolute())


def desired_stanza(svc: Service, ctx: Context) -> list[tuple[str, str]]:
    from pgiam.providers import stanza_overrides

    return stanza_params(svc, db_user(svc), passfile=passfile_for(ctx), **stanza_overrides(svc))


def make_plan(
    services: list[Service], ctx: Context, pgpass_data: bytes | None, service_data: bytes | None,
    saved: dict[str, state.ServiceState], now: datetime, renew: bool, takeover: bool,
) -> Plan:
    plan = Plan()
    sindex = bulk.service_index(service_data or b"")
    for svc in services:
        managed = sindex.is_managed(svc.name)
        if managed is False and not takeover:
            plan.refused.append((svc, PgiamError(
                f"{ctx.service_file} has a [{svc.name}] stanza that pgiam did not write; rename the "
                "service or pass --force to take it over",
                exit_code=2,
            )))
            continue
        if renew:  # (no need to decode the stored token)
            plan.tokens.append(svc)
            continue
        cur = current(svc, pgpass_data, saved.get(svc.name), now)
        if cur.state != FRESH:
            plan.tokens.append(svc)
        elif sindex.get(svc.name) != desired_stanza(svc, ctx) or not managed:
            plan.stanzas.append(svc)
            plan.fresh.append((svc, cur.expires_at))
        else:
            plan.fresh.append((svc, cur.expires_at))
    return plan


def execute(
    ctx: Context, services: list[Service], *, renew: bool = False, takeover: bool = False
) -> list[Outcome]:
    """Refresh what needs it; write each file at most once; record state. Never raises per service.

    renew: sign new tokens even when the stored ones are fresh. takeover: overwrite a stanza of
    the same name that pgiam did not write.
    """
    now = ctx.now()
    pgpass_data = atomic.read_file(ctx.pgpass)
    service_data = atomic.read_file(ctx.service_file)
    saved = state.load(ctx.state_path)
    plan = make_plan(services, ctx, pgpass_data, service_data, saved, now, renew, takeover)
    outcomes: dict[str, Outcome] = {}
    for svc, err in plan.refused:
        outcomes[svc.name] = Outcome(svc, "failed", error=err)
    for svc, exp in plan.fresh:
        outcomes[svc.name] = Outcome(svc, "fresh", expires_at=exp)
    # only when something is to be written: the no-op path never runs pg_config
    libpq = _check_libpq(ctx, plan, outcomes) if plan.tokens or plan.stanzas else None

    issued: list[tuple[Service, Token]] = []
    if plan.tokens:
        from pgiam.aws.credentials import CredentialCache
        from pgiam.providers import get_provider

        cache: CredentialCache = CredentialCache()
        for svc in plan.tokens:
            try:
                tok = get_provider(svc.kind).issue(svc, cache, now)
                _check_pgpass_line(libpq, svc, tok)
            except PgiamError as e:
                outcomes[svc.name] = Outcome(svc, "failed", error=PgiamError(str(e), exit_code=e.exit_code))
                continue
            issued.append((svc, tok))
            outcomes[svc.name] = Outcome(svc, "refreshed", expires_at=tok.expires_at, token=tok)

    if not issued and pgpass_data is not None and _too_open(ctx):
        # nothing to write, but libpq ignores a group/other-readable pgpass: fix its mode
        try:
            atomic.update_file(ctx.pgpass, lambda d: d, private=True)
        except PgiamError as e:
            ctx.out.error(str(e))

    if issued:
        def edit_pgpass(data: bytes | None) -> bytes:
            items = [(pgpass_key(svc, tok.user), tok.value) for svc, tok in issued]
            return bulk.pgpass_upsert_all(data or b"", items)

        try:
            atomic.update_file(ctx.pgpass, edit_pgpass, private=True)
        except PgiamError as e:
            for svc, _ in issued:
                outcomes[svc.name] = Outcome(svc, "failed", error=e)
            issued = []

    stanza_svcs = [svc for svc, _ in issued] + plan.stanzas
    if stanza_svcs:
        _write_stanzas(ctx, stanza_svcs, outcomes, takeover)

    _record(ctx, outcomes, saved, now)
    return [outcomes[s.name] for s in services]


def _check_libpq(ctx: Context, plan: Plan, outcomes: dict[str, Outcome]) -> tuple[int, int] | None:
    """Fail (exit 2, nothing written) the services whose stanza the local libpq would reject."""
    from pgiam.host import libpq_version
    from pgiam.libpq import rules as libpq_rules

    version = libpq_version.detect()
    bad: set[str] = set()
    for svc in [*plan.tokens, *plan.stanzas]:
        params = desired_stanza(svc, ctx)
        problem = libpq_rules.stanza_problem(version, svc.name, params)
        if problem is None:
            try:  # the stanza writer's own refusals (a line over 1021 bytes, service=, bad values)
                servicefile.upsert(b"", svc.name, params)
            except PgiamError as e:
                problem = str(e)
        if problem is not None:
            bad.add(svc.name)
            err = PgiamError(f"{ctx.service_file}: {problem}", exit_code=2)
            outcomes[svc.name] = Outcome(svc, "failed", error=err)
    plan.tokens = [s for s in plan.tokens if s.name not in bad]
    plan.stanzas = [s for s in plan.stanzas if s.name not in bad]
    return version


def _check_pgpass_line(version: tuple[int, int] | None, svc: Service, tok: Token) -> None:
    """Refuse (exit 1) a token line an old libpq would truncate; `pgiam exec` still works there."""
    from pgiam.libpq import rules as libpq_rules

    line = pgpass.format_line(pgpass_key(svc, tok.user), tok.value).rstrip(b"\r\n")
    problem = libpq_rules.pgpass_line_problem(version, svc.name, len(line))
    if problem is not None:
        raise PgiamError(problem)


def _too_open(ctx: Context) -> bool:
    import os
    import stat

    if ctx.platform.windows:
        return False
    try:
        return bool(stat.S_IMODE(os.stat(ctx.pgpass).st_mode) & 0o077)
    except OSError:
        return False


def _write_stanzas(ctx: Context, svcs: list[Service], outcomes: dict[str, Outcome], takeover: bool) -> None:
    warnings: list[str] = []
    failed: dict[str, PgiamError] = {}

    def edit(data: bytes | None) -> bytes:
        warnings.clear()
        failed.clear()
        # every stanza upserted in one pass; unchanged ones skipped, new ones appended together (O(N))
        items = [(svc.name, desired_stanza(svc, ctx)) for svc in svcs]
        out, warns, refused = bulk.service_upsert_all(data or b"", items, takeover)
        failed.update(refused)
        # the engine names the stanza or line; say which file
        warnings.extend(f"{ctx.service_file}: {w.replace('pg_service.conf ', '', 1)}" for w in warns)
        if out != (data or b""):
            warnings.extend(f"{ctx.service_file}: {n}" for n in _foreign_long_lines(out, svcs))
        return out

    try:
        changed = atomic.update_file(ctx.service_file, edit, private=False)
    except PgiamError as e:
        for svc in svcs:
            outcomes[svc.name] = Outcome(svc, "failed", error=e)
        return
    for w in warnings:
        ctx.out.warn(w)
    for name, err in failed.items():
        outcomes[name] = Outcome(outcomes[name].svc, "failed", error=err)
    if changed:
        for svc in svcs:
            o = outcomes[svc.name]
            if o.action == "fresh":
                o.action = "stanza"


def _foreign_long_lines(data: bytes, svcs: list[Service]) -> list[str]:
    """Over-long lines outside the stanzas being written (those get their own warning): such a
    line breaks the lookup of every service after it."""
    ours: set[int] = set()
    seen: set[bytes] = set()
    names = {svc.name.encode() for svc in svcs}
    for sec in servicefile.parse(data).sections:
        if sec.name in names and sec.name not in seen:
            seen.add(sec.name)
            ours.update(range(sec.lineno, sec.lineno + len(sec.body) + 1))
    return [servicefile.long_line_note(no, n) for no, n in servicefile.long_lines(data) if no not in ours]


def _record(
    ctx: Context, outcomes: dict[str, Outcome], saved: dict[str, state.ServiceState], now: datetime
) -> None:
    changes: dict[str, state.ServiceState] = {}
    for name, o in outcomes.items():
        prev = saved.get(name, state.ServiceState())
        if o.action == "refreshed" and o.token is not None:
            changes[name] = state.ServiceState(
                last_refresh=tokeninfo.iso(now), last_error=None,
                token_sha256=state.token_hash(o.token.value),
                expires_at=tokeninfo.iso(o.token.expires_at), credential_source=o.token.source,
            )
        elif o.action == "failed" and o.error is not None:
            prev.last_error = f"{tokeninfo.iso(now)} {o.error}"
            changes[name] = prev
    if changes:
        try:
            state.update(ctx.state_path, changes)
        except PgiamError as e:
            ctx.out.warn(f"could not record state in {ctx.state_path}: {e}")


def exit_code(outcomes: list[Outcome]) -> int:
    codes = [o.error.exit_code for o in outcomes if o.error is not None]
    return max(codes) if codes else 0
