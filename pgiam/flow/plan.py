"""Desired state against actual state: what each service needs, and what pgiam owns that no service
needs any more. Pure: takes the files' bytes and the state, returns verdicts; writes nothing.

"Fresh" here means usable: libpq would pick pgiam's line for the connection and reach the stanza,
the token was signed for this service's signer, and the server would take it now (not expired, not
dated in the future beyond a small clock skew).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pgiam.config.model import Service
from pgiam.errors import PgiamError
from pgiam.flow import desired
from pgiam.flow.state import EntryRecord, ServiceState, StanzaRecord, State, token_hash
from pgiam.libpq import servicefile
from pgiam.libpq.bulk import PgpassIndex, ServiceIndex
from pgiam.libpq.pgpass import Key
from pgiam.libpq.rules import SERVICE_LINE_MAX

# A token dated more than this far ahead of our clock was signed while the clock ran fast (or the
# clock has since been stepped back): the server rejects it until its date comes.
FUTURE_SKEW = timedelta(seconds=60)
# Renew this much earlier than refresh_before, so that a scheduled run that starts a little late
# (cron start-up, a busy machine, a sleeping laptop's first minute) still finds a valid token; see
# tests/flow/test_schedule_margin.py for the simulation.
MARGIN = timedelta(seconds=60)


def due(expires_at: datetime, now: datetime, refresh_before: int) -> bool:
    """Whether a token that expires at ``expires_at`` is renewed by a run at ``now``."""
    return expires_at - now <= timedelta(seconds=refresh_before) + MARGIN


class Health(str, enum.Enum):
    """A service's token as libpq would meet it now."""

    FRESH = "fresh"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    MISSING = "missing"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


def key_text(key: Key) -> str:
    """How a pgpass key is named in messages."""
    return ":".join(key.fields())


def key_id(key: Key) -> str:
    """How a pgpass key is named in the state file (unambiguous, also for fields holding ':'):
    ``json.dumps(list(key.fields()), ensure_ascii=False)``, written out with json's own string encoder
    (a third of the cost; tests/flow/test_plan.py holds the two equal)."""
    return f"[{_json_str(key.host)}, {_json_str(key.port)}, {_json_str(key.dbname)}, {_json_str(key.user)}]"


_json_str = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) does to a str


def key_of(kid: str) -> Key:
    return Key(*json.loads(kid))


@dataclass
class Verdict:
    """What one service has and needs."""

    svc: Service
    key: Key
    health: Health
    expires_at: datetime | None = None
    reason: str = ""
    renew: bool = False  # needs a new token in its pgpass entry
    stanza: list[tuple[str, str]] | None = None  # the stanza it needs (None: already right)
    error: PgiamError | None = None  # cannot be done (a user's line or stanza in the way, a conflict)
    take_line: bool = False  # --force: replace the user's pgpass line (kept for `remove`)
    take_stanza: bool = False  # --force: replace the user's stanza (kept for `remove`)
    kid: str = ""  # key_id(key), derived once
    line_hash: str | None = None  # token_hash of the password now in pgpass for its key

    def __post_init__(self) -> None:
        if not self.kid:
            self.kid = key_id(self.key)


@dataclass
class Plan:
    verdicts: list[Verdict] = field(default_factory=list)
    drop_entries: list[tuple[str, EntryRecord]] = field(default_factory=list)  # key id, record
    drop_stanzas: list[tuple[str, StanzaRecord]] = field(default_factory=list)  # name, record
    gone: list[str] = field(default_factory=list)  # services the verb removed from the config

    @property
    def renew(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.error is None and v.renew]

    @property
    def busy(self) -> bool:
        """Whether anything is to be written."""
        return bool(self.drop_entries or self.drop_stanzas or self.gone or any(
            v.error is None and (v.renew or v.stanza is not None) for v in self.verdicts))


@dataclass
class Actual:
    """The files as read, indexed once."""

    pgpass: bytes
    services: bytes
    state: State
    pgpass_id: str  # real path of the pgpass file (ownership records are per file)
    service_id: str
    config_id: str  # real path of the config whose services these are

    def __post_init__(self) -> None:
        self.pindex = PgpassIndex(self.pgpass)
        self.sindex = ServiceIndex(self.services)
        self.entries = self.state.entries.get(self.pgpass_id, {})
        self.stanzas = self.state.stanzas.get(self.service_id, {})
        self.longest = max((n for _, n in servicefile.long_lines(self.services)), default=0)


def owns_line(password: str, rec: EntryRecord | None, saved: ServiceState | None, svc: Service | None = None,
              h: str | None = None) -> bool:
    """Whether a pgpass password is one pgiam wrote: by the hashes it recorded, or, where no record is
    kept (a state file lost or not writable), an IAM token presigned for this very endpoint and user
    (a short-lived token, never a password of the user's). ``h``: the password's token_hash, if known."""
    h = h or token_hash(password)
    if (rec is not None and h in rec.hashes) or (saved is not None and saved.token_sha256 == h):
        return True
    if rec is not None or svc is None:
        return False
    from pgiam.aws import tokeninfo

    info = tokeninfo.decode(password)
    want = svc.sign_host if svc.kind == "dsql" else f"{svc.sign_host}:{svc.port}"
    return info is not None and info.host.lower() == want.lower() and info.user in (None, svc.user)


def token_expiry(token: str, svc: Service, saved: ServiceState | None, now: datetime) -> tuple[datetime | None, str]:
    """Effective expiry of a stored token: what it encodes, capped by the recorded credential expiry.

    Returns (None, why) when the token cannot be used for this service now.
    """
    from pgiam.aws import tokeninfo

    expires: datetime | None = None
    info = tokeninfo.decode(token)
    if info is not None:
        want_host = svc.sign_host if svc.kind == "dsql" else f"{svc.sign_host}:{svc.port}"
        if info.host.lower() != want_host.lower():
            return None, f"token is signed for {info.host}, not {want_host}"
        if info.user is not None and info.user != svc.user:
            return None, f"token is for user {info.user!r}, not {svc.user!r}"
        if svc.region and info.region and info.region != svc.region:
            return None, f"token is signed for region {info.region}, not {svc.region}"
        if info.signed_at - now > FUTURE_SKEW:
            return None, (f"token is dated {tokeninfo.iso(info.signed_at)}, ahead of this clock "
                          "(signed while the clock ran fast); the server rejects it until then")
        expires = info.expires_at
    if saved and saved.expires_at:
        recorded = tokeninfo.parse_iso(saved.expires_at)
        # the record can only lower the expiry: hash the token only when it would
        if (recorded is not None and (expires is None or recorded < expires)
                and saved.token_sha256 == token_hash(token)):
            expires = recorded
    if expires is None:
        return None, "the stored password's expiry is unknown"
    return expires, ""


def _unreachable(data: bytes, name: str, line_max: int) -> int | None:
    """The line number of an over-long line before the end of ``[name]`` (libpq then fails the lookup)."""
    start_end = servicefile.section_span(data, name)
    if start_end is None:
        return None
    for no, length in servicefile.long_lines(data):
        if no > start_end[1]:
            break
        if length > line_max:
            return no
    return None


def inspect(
    svc: Service, act: Actual, now: datetime, *, passfile: str | None, bundle: str | None, force: bool,
    line_max: int = SERVICE_LINE_MAX, renew: bool = False, key: tuple[Key, str] | None = None,
) -> Verdict:
    """The verdict for one valid service. ``renew``: it gets a new token whatever its old one is worth
    (a forced refresh), so that token's expiry is not worked out."""
    pk, kid = key if key is not None else (desired.pgpass_key(svc), "")
    v = Verdict(svc, pk, Health.MISSING, kid=kid)
    rec = act.entries.get(v.kid)
    saved = act.state.services.get(svc.name)
    found = act.pindex.find(pk)
    if found is None:
        v.renew, v.reason = True, "no pgpass entry"
    else:
        idx, password = found
        v.line_hash = token_hash(password)
        if not owns_line(password, rec, saved, svc, v.line_hash):
            v.health = Health.ERROR
            if force:
                v.take_line, v.renew, v.reason = True, True, "taking over the user's pgpass line"
            else:
                v.error = PgiamError(
                    f"pgpass line {idx + 1} ({key_text(pk)}) was not written by pgiam; pass --force to take it "
                    "over (`pgiam remove` puts it back), or remove that line"
                )
        elif renew:
            v.health, v.renew, v.reason = Health.EXPIRING, True, "renewal asked for"
        else:
            chosen = act.pindex.chosen(pk)
            expires, why = token_expiry(password, svc, saved, now)
            if rec is not None and rec.signer and rec.signer != desired.signer(svc):
                expires, why = None, "the token was signed for another service's settings"
            if chosen is not None and chosen != idx:
                v.health, v.renew = Health.EXPIRED, True
                v.reason = f"libpq would use pgpass line {chosen + 1} before pgiam's line {idx + 1}"
            elif expires is None:
                v.health, v.renew, v.reason = Health.EXPIRED, True, why
            elif expires <= now:
                v.health, v.renew, v.expires_at, v.reason = Health.EXPIRED, True, expires, "expired"
            else:
                left = expires - now
                v.expires_at = expires
                v.health = Health.EXPIRING if left <= timedelta(seconds=svc.refresh_before) else Health.FRESH
                v.renew = due(expires, now, svc.refresh_before)
                v.reason = "expiring" if v.renew else ""
    want = desired.stanza(svc, passfile, bundle)
    srec = act.stanzas.get(svc.name)
    managed = act.sindex.is_managed(svc.name)
    if srec is not None and srec.owner[0] != act.config_id:
        v.health = Health.ERROR
        v.error = PgiamError(f"stanza [{svc.name}] belongs to the services of {srec.owner[0]}; "
                             "use another service name")
    elif managed is False and srec is None:
        if force:
            v.take_stanza = True
            v.stanza = want
        elif v.error is None:
            v.health = Health.ERROR
            v.error = PgiamError(
                f"[{svc.name}] in the service file was not written by pgiam; pass --force to take it over "
                "(`pgiam remove` puts it back), or choose another service name"
            )
    if v.stanza is None and (act.sindex.get(svc.name) != want or managed is not True):
        v.stanza = want
    bad = _unreachable(act.services, svc.name, line_max) if act.longest > line_max else None
    if bad is not None and v.stanza is None:
        v.stanza = want  # rewritten, it moves before the over-long line
        if v.health in (Health.FRESH, Health.EXPIRING):
            v.health = Health.EXPIRED
        v.reason = f"libpq cannot reach [{svc.name}] past the over-long line {bad} of the service file"
    return v


def conflicts(services: list[Service], act: Actual, keys: dict[str, tuple[Key, str]]) -> dict[str, PgiamError]:
    """Services that share a pgpass entry but would sign it differently (also with services of other
    configs recorded in the state). Each such service fails, naming the other. ``keys``: each
    service's pgpass key and key id."""
    out: dict[str, PgiamError] = {}
    by_key: dict[str, Service] = {}
    signers: dict[str, str] = {}
    for svc in services:
        key, kid = keys[svc.name]
        other = by_key.setdefault(kid, svc)
        mine = signers[svc.name] = desired.signer(svc)
        if other is not svc and signers[other.name] != mine:
            kt = key_text(key)
            for a, b in ((svc, other), (other, svc)):
                out[a.name] = PgiamError(_conflict_text(a.name, b.name, kt))
        rec = act.entries.get(kid)
        if rec is not None and rec.signer and rec.signer != mine:
            kt = key_text(key)
            foreign = [n for c, n in rec.owners if c != act.config_id]
            if foreign:
                out[svc.name] = PgiamError(_conflict_text(svc.name, f"{foreign[0]} (of another config)", kt))
    return out


def _conflict_text(name: str, other: str, kt: str) -> str:
    return (f"{name} shares the pgpass entry {kt} with {other} but signs it differently (kind, profile, "
            "region, port or token settings); give both the same settings, or a different dbname or user")


def make_plan(
    services: list[Service], broken: set[str], act: Actual, now: datetime, *, selected: set[str] | None,
    renew: bool, force: bool, passfile: str | None, bundle: str | None, line_max: int = SERVICE_LINE_MAX,
    gone: list[Service] | None = None,
) -> Plan:
    """Verdicts for the selected services (all when None); ownership records no service of this config
    needs any more (a broken service keeps what it has). ``gone``: services the verb is removing, whose
    lines may predate ownership records (state version 1: known by the token hash alone)."""
    plan = Plan()
    keys = {}
    for svc in services:
        key = desired.pgpass_key(svc)
        keys[svc.name] = (key, key_id(key))
    clash = conflicts(services, act, keys)
    for svc in services:
        if selected is not None and svc.name not in selected:
            continue
        v = inspect(svc, act, now, passfile=passfile, bundle=bundle, force=force, line_max=line_max, renew=renew,
                    key=keys[svc.name])
        if svc.name in clash:
            v.health, v.error = Health.ERROR, clash[svc.name]
        elif renew and v.error is None:
            v.renew = True
        plan.verdicts.append(v)
    needed = {kid for _, kid in keys.values()}
    keep_names = {s.name for s in services} | broken
    for kid, rec in act.entries.items():
        mine = [(c, n) for c, n in rec.owners if c == act.config_id]
        if mine and kid not in needed and not any(n in broken for _, n in mine):
            plan.drop_entries.append((kid, rec))
    for name, srec in act.stanzas.items():
        if srec.owner[0] == act.config_id and name not in keep_names:
            plan.drop_stanzas.append((name, srec))
    dropped = {k for k, _ in plan.drop_entries}
    for svc in gone or []:
        plan.gone.append(svc.name)
        kid = key_id(desired.pgpass_key(svc))
        saved = act.state.services.get(svc.name)
        if kid not in act.entries and kid not in needed and kid not in dropped and saved and saved.token_sha256:
            plan.drop_entries.append((kid, EntryRecord([(act.config_id, svc.name)], hashes=[saved.token_sha256])))
            dropped.add(kid)
        if svc.name not in act.stanzas and act.sindex.is_managed(svc.name):
            plan.drop_stanzas.append((svc.name, StanzaRecord((act.config_id, svc.name))))
    return plan
