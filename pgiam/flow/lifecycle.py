"""The one code path behind every verb that changes files: edit the config (if the verb does), then
reconcile the files with it.

    read config + files ──► plan (pure) ──► issue tokens (no lock held: signing may be slow)
      ──► under pgiam's lock: read everything again, plan again with the tokens at hand (a concurrent
          add/remove/refresh may have changed the config or the files; when every input reads
          byte-identical, the first plan stands), then write
          state (claims) → config → pgpass → service file → state (final)
          (a run that drops nothing records its final state as the claims: one state write)

Every check that can refuse runs before the first write. A run killed between two writes leaves files
that the next run completes: the state claims lines before they are written and lets go of them only
after they are gone, and a line counts as pgiam's only while it holds a password pgiam wrote.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from pgiam import atomic
from pgiam.config.model import Config, Service
from pgiam.errors import ConfigError, PgiamError, UsageError
from pgiam.flow import desired, state
from pgiam.flow.apply import Edits
from pgiam.flow.plan import Actual, Health, Plan, Verdict, make_plan

if TYPE_CHECKING:
    from pgiam.flow.context import Context
    from pgiam.providers.base import Token

Edit = Callable[[str], str]  # config text -> new config text (pure; may raise ConfigError)


class Action(str, enum.Enum):
    REFRESHED = "refreshed"
    STANZA = "stanza"  # only the stanza was rewritten; the token is still fresh
    FRESH = "fresh"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


@dataclass
class Outcome:
    name: str
    action: Action
    expires_at: datetime | None = None
    error: PgiamError | None = None
    svc: Service | None = None


@dataclass
class Issued:
    """The tokens a reconcile signed, by pgpass key id: the token, what signed it (desired.signer),
    and its pgpass line as formatted when its length was checked."""

    tokens: dict[str, Token] = field(default_factory=dict)
    signers: dict[str, str] = field(default_factory=dict)
    lines: dict[str, bytes] = field(default_factory=dict)


@dataclass
class Snapshot:
    """The config and the files, read once, and the plan over them."""

    text: str  # the user's config text as read (before the verb's edit)
    new_text: str  # after the verb's edit
    cfg: Config
    actual: Actual
    plan: Plan
    gone: list[Service] = field(default_factory=list)
    inputs: tuple[object, ...] = ()  # everything the plan was made from, as read (see snapshot's prior)


def realpath(p: Path) -> str:
    return os.path.realpath(os.fspath(p))


def config_text(ctx: Context) -> str:
    data = atomic.read_file(ctx.config_path)
    if data is None:
        return ""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{ctx.config_path}: not UTF-8 text; fix it by hand") from None


def passfile(ctx: Context) -> str | None:
    return None if ctx.pgpass_is_default else str(ctx.pgpass.absolute())


def bundle(ctx: Context) -> str | None:
    """The CA bundle `pgiam ca install` wrote, when it is there: services that pin no sslrootcert use it."""
    from pgiam.config.paths import default_bundle

    b = default_bundle(ctx.platform)
    return str(b) if b.is_file() else None


def snapshot(
    ctx: Context, *, edit: Edit | None, names: list[str] | None, renew: bool, force: bool,
    prior: Snapshot | None = None,
) -> Snapshot:
    """Read the config and the files and plan over them. When every input reads exactly as it did for
    ``prior`` (the same verb's first look, a moment ago), its plan stands: nothing was changed meanwhile."""
    text = config_text(ctx)
    pgpass_data = atomic.read_file(ctx.pgpass) or b""
    services_data = atomic.read_file(ctx.service_file) or b""
    state_data = state.read(ctx.state_path)
    ids = (realpath(ctx.pgpass), realpath(ctx.service_file), realpath(ctx.config_path))
    inputs = (text, pgpass_data, services_data, state_data, ids, passfile(ctx), bundle(ctx),
              ctx.site_config_bytes())
    if prior is not None and prior.inputs == inputs:
        return prior
    new_text = edit(text) if edit is not None else text
    cfg = ctx.load_config(new_text if edit is not None else None)
    gone: list[Service] = []
    if edit is not None:
        old = ctx.load_config(text)
        gone = [s for n, s in old.services.items() if n not in cfg.services and n not in cfg.broken]
    act = Actual(pgpass=pgpass_data, services=services_data, state=state.parse(state_data), pgpass_id=ids[0],
                 service_id=ids[1], config_id=ids[2])
    selected = None if not names else set(names)
    plan = make_plan(list(cfg.services.values()), set(cfg.broken), act, ctx.now(), selected=selected,
                     renew=renew, force=force, passfile=inputs[5], bundle=inputs[6], gone=gone)
    return Snapshot(text, new_text, cfg, act, plan, gone, inputs)


def reconcile(
    ctx: Context, *, names: list[str] | None = None, renew: bool = False, force: bool = False,
    edit: Edit | None = None, strict: str | None = None, sign: bool = True,
) -> list[Outcome]:
    """Bring pgpass, the service file and the state in line with the config (after ``edit``).

    names: only these services get new tokens or stanzas (what no service needs is cleaned up anyway).
    renew: new tokens even for fresh entries. force: take over the user's line or stanza in the way
    (what it displaced comes back on `remove`). strict: the service an `add` is about: any refusal for
    it raises (exit 2, or 1 when its token cannot be had) before anything is written.
    """
    import gc

    collecting = gc.isenabled()
    gc.disable()  # a reconcile makes many objects and no garbage cycles: the collector's passes cost ~15%
    try:          # of a 10,000-service run, for nothing
        return _reconcile(ctx, names=names, renew=renew, force=force, edit=edit, strict=strict, sign=sign)
    finally:
        if collecting:
            gc.enable()


def _reconcile(
    ctx: Context, *, names: list[str] | None, renew: bool, force: bool, edit: Edit | None, strict: str | None,
    sign: bool,
) -> list[Outcome]:
    snap = snapshot(ctx, edit=edit, names=names, renew=renew, force=force)
    if names:
        snap.cfg.check_names(names)
    if strict is not None:
        _refuse(ctx, snap, strict)
    failed: dict[str, PgiamError] = {}
    version = _check_libpq(ctx, snap.plan, failed, strict) if snap.plan.busy else None
    issued = Issued()
    if sign and snap.plan.renew:
        _issue(ctx, snap.plan.renew, issued, failed, version)
    if strict is not None and strict in failed:
        raise PgiamError(f"{strict}: {failed[strict]} (nothing was saved)", exit_code=failed[strict].exit_code)
    if snap.plan.busy or (edit is not None and snap.new_text != snap.text):
        snap = _commit(ctx, snap, issued, failed, version, edit=edit, names=names, renew=renew, force=force,
                       sign=sign)
    elif _too_open(ctx):
        _mode_fixed(ctx, ctx.pgpass, atomic.update_file(ctx.pgpass, lambda d: d, private=True))
    return _outcomes(snap, issued.tokens, failed, names)


def _refuse(ctx: Context, snap: Snapshot, name: str) -> None:
    """What `add` refuses before writing anything (exit 2)."""
    if name in snap.cfg.broken:
        raise snap.cfg.broken[name]
    v = next((v for v in snap.plan.verdicts if v.svc.name == name), None)
    if v is None:
        return
    if v.error is not None:
        raise UsageError(f"{name}: {v.error}")
    root = v.svc.sslrootcert
    if root and root != "system" and not os.path.isfile(root):
        raise UsageError(
            f"{name}: sslrootcert {root} does not exist; run `pgiam ca install` to install the RDS CA bundle "
            "there, or pass the path of your CA file"
        )


def _check_libpq(ctx: Context, plan: Plan, failed: dict[str, PgiamError], strict: str | None) -> tuple[int, int] | None:
    """Fail the services whose stanza the local libpq would reject (nothing of theirs is written)."""
    from pgiam.host import libpq_version
    from pgiam.libpq import rules, servicefile

    version = libpq_version.detect(remember=ctx.libpq_memo)
    for v in plan.verdicts:
        if v.error is not None or v.stanza is None:
            continue
        problem = rules.stanza_problem(version, v.svc.name, v.stanza)
        if problem is None:
            try:  # the stanza writer's own refusals (a line over 1021 bytes, service=, bad values)
                servicefile.upsert(b"", v.svc.name, v.stanza)
            except PgiamError as e:
                problem = str(e)
        if problem is not None:
            if v.svc.name == strict:
                raise UsageError(f"{ctx.service_file}: {problem}")
            failed[v.svc.name] = PgiamError(f"{ctx.service_file}: {problem}")
    return version


def _issue(
    ctx: Context, verdicts: list[Verdict], issued: Issued,
    failed: dict[str, PgiamError], version: tuple[int, int] | None,
) -> None:
    """One token per pgpass entry (services sharing it share the token); credentials once per profile."""
    from pgiam.aws.credentials import CredentialCache
    from pgiam.libpq import pgpass, rules
    from pgiam.providers import get_provider

    cache = CredentialCache(timeout=ctx.credential_timeout)
    by_key: dict[str, list[Verdict]] = {}
    for v in verdicts:
        if v.svc.name not in failed:
            by_key.setdefault(v.kid, []).append(v)
    now = ctx.now()
    for kid, group in by_key.items():
        if kid in issued.tokens:
            continue
        svc = group[0].svc
        try:
            tok = get_provider(svc.kind).issue(svc, cache, now)
            line = pgpass.format_line(group[0].key, tok.value)
            problem = rules.pgpass_line_problem(version, svc.name, len(line.rstrip(b"\r\n")))
            if problem is not None:
                raise PgiamError(problem)
        except PgiamError as e:
            for v in group:
                failed[v.svc.name] = PgiamError(str(e), exit_code=1)
            continue
        issued.tokens[kid] = tok
        issued.signers[kid] = desired.signer(svc)
        issued.lines[kid] = line


def _commit(
    ctx: Context, snap: Snapshot, issued: Issued, failed: dict[str, PgiamError],
    version: tuple[int, int] | None, *, edit: Edit | None, names: list[str] | None, renew: bool, force: bool,
    sign: bool,
) -> Snapshot:
    release = atomic.hold("reconcile.lock", beside=ctx.pgpass)
    try:
        fresh = snapshot(ctx, edit=edit, names=names, renew=renew, force=force, prior=snap)
        # a service whose token was issued for other settings (a concurrent add changed it) signs again
        stale = [v for v in fresh.plan.renew if v.svc.name not in failed and (
            issued.signers.get(v.kid) != desired.signer(v.svc))]
        if sign and stale:
            for v in stale:
                issued.tokens.pop(v.kid, None)
            _issue(ctx, stale, issued, failed, version)
        edits = Edits(fresh.plan, issued.tokens, fresh.actual.config_id, fresh.actual.pgpass_id,
                      fresh.actual.service_id, ctx.now(), failed, lines=issued.lines, pindex=fresh.actual.pindex)
        # A run that drops nothing records its final state at once (one state write, not two): every
        # ownership record it changes only gains; what a run drops is let go only after it is gone.
        ahead = not (fresh.plan.drop_entries or fresh.plan.drop_stanzas or fresh.plan.gone)
        claims = edits.state(fresh.actual.state, final=ahead, ahead=ahead, pgpass_before=fresh.actual.pgpass,
                             services_before=fresh.actual.services)
        claimed = _save_state(ctx, claims)
        if edit is not None and fresh.new_text != fresh.text:
            atomic.update_file(ctx.config_path, _config_edit(ctx, edit), private=False)
        ok = _write(ctx, ctx.pgpass, edits.pgpass, True, edits, fresh.plan)
        ok = _write(ctx, ctx.service_file, edits.services, False, edits, fresh.plan) and ok
        for w in edits.warnings:
            ctx.out.warn(f"{ctx.service_file}: {w.replace('pg_service.conf ', '', 1)}")
        if not ok:
            return fresh  # the claims stay recorded: the next run finishes (or cleans up) the job
        if claimed is not None and not ahead:
            now_data = state.read(ctx.state_path)  # (only a pgiam holding this lock writes it: as we left it)
            base = claims if now_data == claimed else state.parse(now_data)
            final = edits.state(base, final=True, pgpass_before=fresh.actual.pgpass,
                                services_before=fresh.actual.services)
            _save_state(ctx, final)
        return fresh
    finally:
        release()


def _save_state(ctx: Context, st: state.State) -> bytes | None:
    """Record the state (returns the bytes written); a state file that cannot be written is a warning:
    the files are still written (pgiam then knows its lines by their tokens, and what a forced takeover
    displaced is not kept)."""
    try:
        return state.save(ctx.state_path, st)
    except PgiamError as e:
        ctx.out.warn(f"could not record state in {ctx.state_path}: {e}")
        return None


def _config_edit(ctx: Context, edit: Edit) -> Callable[[bytes | None], bytes]:
    def transform(data: bytes | None) -> bytes:
        try:
            text = (data or b"").decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{ctx.config_path}: not UTF-8 text; fix it by hand") from None
        return edit(text).encode("utf-8")

    return transform


def _write(
    ctx: Context, path: Path, transform: Callable[[bytes | None], bytes | None], private: bool, edits: Edits,
    plan: Plan,
) -> bool:
    """One locked write; a failure fails the services that needed it (the file is left as it was) and,
    when the verb removes something, the verb."""
    try:
        _mode_fixed(ctx, path, atomic.update_file(path, transform, private=private))
    except PgiamError as e:
        if plan.gone or plan.drop_entries or plan.drop_stanzas:
            raise
        for v in plan.verdicts:
            if v.error is None and (v.renew or v.stanza is not None):
                edits.failed.setdefault(v.svc.name, e)
        return False
    return True


def _mode_fixed(ctx: Context, path: Path, written: atomic.Written) -> None:
    if written.fixed_mode is not None:  # libpq ignores a password file it finds like that
        ctx.out.warn(f"{path} had mode {written.fixed_mode:04o}; fixed to 0600 (libpq ignores a password file "
                     "readable by group or others)")


def _too_open(ctx: Context) -> bool:
    import stat

    if ctx.platform.windows:
        return False
    try:
        return bool(stat.S_IMODE(os.stat(ctx.pgpass).st_mode) & 0o077)
    except OSError:
        return False


def _outcomes(
    snap: Snapshot, tokens: dict[str, Token], failed: dict[str, PgiamError], names: list[str] | None,
) -> list[Outcome]:
    out: list[Outcome] = []
    by_name = {v.svc.name: v for v in snap.plan.verdicts}
    for name in snap.cfg.names:
        if names and name not in names:
            continue
        if name in snap.cfg.broken:
            out.append(Outcome(name, Action.FAILED, error=snap.cfg.broken[name]))
            continue
        v = by_name.get(name)
        if v is None:
            continue
        err = v.error or failed.get(name)
        if err is not None:
            out.append(Outcome(name, Action.FAILED, error=err, svc=v.svc))
        elif v.renew and v.kid in tokens:
            out.append(Outcome(name, Action.REFRESHED, tokens[v.kid].expires_at, svc=v.svc))
        elif v.stanza is not None:
            out.append(Outcome(name, Action.STANZA, v.expires_at, svc=v.svc))
        else:
            out.append(Outcome(name, Action.FRESH, v.expires_at, svc=v.svc))
    return out


def exit_code(outcomes: list[Outcome]) -> int:
    """0 when every service is fine, 1 when any failed (whatever its reason)."""
    return 1 if any(o.action is Action.FAILED for o in outcomes) else 0


def health(ctx: Context, names: list[str] | None = None) -> tuple[Config, list[Verdict]]:
    """What `status` and `doctor` show: each valid service's verdict, read-only."""
    snap = snapshot(ctx, edit=None, names=names, renew=False, force=False)
    if names:
        snap.cfg.check_names(names)
    return snap.cfg, snap.plan.verdicts


def known(ctx: Context, name: str) -> bool:
    """Whether the state still records files of service ``name`` of this config (leftovers)."""
    st = state.load(ctx.state_path)
    cid = realpath(ctx.config_path)
    if any((cid, name) in rec.owners for recs in st.entries.values() for rec in recs.values()):
        return True
    return any(rec.owner == (cid, name) for recs in st.stanzas.values() for rec in recs.values())


__all__ = ["Action", "Health", "Outcome", "exit_code", "health", "known", "reconcile"]
