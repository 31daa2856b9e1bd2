"""The new contents of pgpass, the service file and the state, from a plan and the tokens issued.

Pure: every function takes the current bytes (as read under the file's lock) and returns new bytes,
so the writer can redo the edit on whatever another writer left there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pgiam.errors import PgiamError
from pgiam.flow import desired
from pgiam.flow.plan import Plan, Verdict, key_of
from pgiam.flow.state import EntryRecord, ServiceState, StanzaRecord, State, clone, token_hash
from pgiam.libpq import bulk, pgpass, servicefile
from pgiam.libpq.rules import SERVICE_LINE_MAX
from pgiam.providers.base import Token


@dataclass
class Edits:
    """What a reconcile writes, derived once from the plan and the tokens."""

    plan: Plan
    tokens: dict[str, Token]  # key id -> token
    config_id: str
    pgpass_id: str
    service_id: str
    now: datetime
    failed: dict[str, PgiamError] = field(default_factory=dict)  # service name -> why (set while issuing)
    warnings: list[str] = field(default_factory=list)
    lines: dict[str, bytes] = field(default_factory=dict)  # key id -> its pgpass line (as formatted when issued)
    pindex: bulk.PgpassIndex | None = None  # the plan's index of pgpass (reused when the bytes are the same)
    _hashes: dict[str, str] = field(default_factory=dict, repr=False)  # key id -> token_hash of its token

    def token_hash(self, kid: str) -> str:
        h = self._hashes.get(kid)
        if h is None:
            h = self._hashes[kid] = token_hash(self.tokens[kid].value)
        return h

    def written(self) -> list[Verdict]:
        """The verdicts whose new token goes into pgpass."""
        return [v for v in self.plan.verdicts
                if v.error is None and v.renew and v.svc.name not in self.failed and v.kid in self.tokens]

    def writes(self) -> dict[str, str]:
        """service name -> key id, for the verdicts whose new token goes into pgpass."""
        return {v.svc.name: v.kid for v in self.written()}

    # ------------------------------------------------------------------ pgpass

    def pgpass(self, data: bytes | None) -> bytes | None:
        text = data or b""
        items: dict[str, tuple[pgpass.Key, str]] = {}
        formatted: dict[pgpass.Key, bytes] = {}
        for v in self.written():
            kid = v.kid
            items[kid] = (v.key, self.tokens[kid].value)
            if kid in self.lines:
                formatted[items[kid][0]] = self.lines[kid]
        if items:
            text = bulk.pgpass_upsert_all(text, list(items.values()), formatted, self.pindex)
        for kid, rec in self.plan.drop_entries:
            if any(c != self.config_id for c, _ in rec.owners):
                continue  # another config's services still need it
            text = _drop_line(text, key_of(kid), rec)
        return text if text else (None if data else data)

    # ------------------------------------------------------------------ service file

    def services(self, data: bytes | None, line_max: int = SERVICE_LINE_MAX) -> bytes | None:
        text = data or b""
        self.warnings.clear()
        items: list[tuple[str, list[tuple[str, str]]]] = []
        for v in self.plan.verdicts:
            if v.error is not None or v.stanza is None or v.svc.name in self.failed:
                continue
            if v.renew and v.kid not in self.tokens:
                continue  # no token: leave its stanza as it is
            items.append((v.svc.name, v.stanza))
        # (the plan let through only stanzas pgiam owns or may take over: force for all of them)
        text, warns, refused = bulk.service_upsert_all(text, items, True)
        self.failed.update(refused)
        self.warnings.extend(warns)
        written = [name for name, _ in items if name not in refused]
        if written and any(n > line_max for _, n in servicefile.long_lines(text)):  # (rare: only then look)
            for name in written:
                if _unreachable(text, name, line_max):
                    text = servicefile.move_to_top(text, name)
        longs = servicefile.long_lines(text) if written else []
        if longs:  # (a note for each over-long line that is not in a stanza just written)
            spans = servicefile.section_spans(text)
            ours: set[int] = set()
            for name in written:
                span = spans.get(name)
                if span is not None:
                    ours.update(range(span[0], span[1] + 1))
            self.warnings.extend(servicefile.long_line_note(no, n) for no, n in longs if no not in ours)
        for name, srec in self.plan.drop_stanzas:
            current = servicefile.section_text(text, name)
            if current is None:
                continue
            if srec.displaced is not None:
                text = servicefile.replace_section(text, name, srec.displaced.encode("latin-1"))
            else:
                text = servicefile.remove(text, name, force=True)
        return text if text else (None if data else data)

    # ------------------------------------------------------------------ state

    def state(self, st: State, *, final: bool, pgpass_before: bytes | None, services_before: bytes | None,
              ahead: bool = False) -> State:
        """The state to record: before the files are written (final=False) it claims the new lines and
        stanzas while keeping the old claims; after (final=True) it drops what is gone.

        ``ahead``: the final state, recorded before the files are written, for a run that drops nothing
        (then one state write does): each entry keeps, besides the new token's hash, the hash of pgiam's
        token now in pgpass, which stays pgiam's if the pgpass write does not happen."""
        st = clone(st)
        entries = st.entries.setdefault(self.pgpass_id, {})
        stanzas = st.stanzas.setdefault(self.service_id, {})
        written = self.writes()
        pindex: bulk.PgpassIndex | None = None  # (needed only where a forced add takes a user's line)
        owners: dict[str, list[tuple[str, str]]] = {}
        by_kid: dict[str, list[Verdict]] = {}
        for v in self.plan.verdicts:
            by_kid.setdefault(v.kid, []).append(v)
            if v.error is None and v.svc.name not in self.failed:
                owners.setdefault(v.kid, []).append((self.config_id, v.svc.name))
        kids_written = set(written.values())
        for kid, names in owners.items():
            rec = entries.get(kid)
            token = self.tokens.get(kid) if kid in kids_written else None
            if rec is None and token is None:
                continue  # (nothing of ours there)
            if rec is None:
                rec = entries[kid] = EntryRecord()
            others = [o for o in rec.owners if o[0] != self.config_id]
            mine = [o for o in rec.owners if o[0] == self.config_id and o not in names]
            rec.owners = others + names + ([] if final else mine)
            v0 = by_kid[kid][0]
            rec.signer = desired.signer(v0.svc)
            if token is not None:
                h = self.token_hash(kid)
                if ahead:
                    now_there = next((v.line_hash for v in by_kid[kid] if v.line_hash in rec.hashes), None)
                    rec.hashes = [h] if now_there is None or now_there == h else [now_there, h]
                else:
                    rec.hashes = [h] if final else [*rec.hashes, h]
                if any(v.take_line for v in by_kid[kid]):
                    pindex = pindex or bulk.PgpassIndex(pgpass_before or b"")
                    found = pindex.find(key_of(kid))
                    if found is not None and rec.displaced is None:
                        rec.displaced = pindex.raw(found[0]).decode("latin-1")
        for v in self.plan.verdicts:
            if v.error is None and v.svc.name not in self.failed and v.stanza is not None:
                srec = stanzas.get(v.svc.name)
                if srec is None:
                    srec = stanzas[v.svc.name] = StanzaRecord((self.config_id, v.svc.name))
                if v.take_stanza and srec.displaced is None and services_before:
                    old = servicefile.section_text(services_before, v.svc.name)
                    srec.displaced = old.decode("latin-1") if old is not None else None
            elif v.error is None and v.svc.name not in self.failed and v.svc.name not in stanzas:
                stanzas[v.svc.name] = StanzaRecord((self.config_id, v.svc.name))
        if final:
            for kid, _rec in self.plan.drop_entries:
                live = entries.get(kid)
                if live is None:
                    continue
                live.owners = [o for o in live.owners if o[0] != self.config_id]
                if not live.owners:
                    del entries[kid]
            for name, _ in self.plan.drop_stanzas:
                stanzas.pop(name, None)
                st.services.pop(name, None)
            for name in self.plan.gone:
                st.services.pop(name, None)
            self._record_services(st)
        for path in [p for p, e in st.entries.items() if not e]:
            del st.entries[path]
        for path in [p for p, s in st.stanzas.items() if not s]:
            del st.stanzas[path]
        return st

    def _record_services(self, st: State) -> None:
        from pgiam.aws import tokeninfo

        written = self.writes()
        now = tokeninfo.iso(self.now)
        for v in self.plan.verdicts:
            name = v.svc.name
            prev = st.services.get(name, ServiceState())
            err = v.error or self.failed.get(name)
            if err is not None:
                prev.last_error = f"{now} {err}"
                st.services[name] = prev
            elif name in written:
                tok = self.tokens[written[name]]
                st.services[name] = ServiceState(
                    last_refresh=now, last_error=None, token_sha256=self.token_hash(written[name]),
                    expires_at=tokeninfo.iso(tok.expires_at), credential_source=tok.source,
                )
            elif name in st.services and v.error is None:
                st.services[name].last_error = None


def _unreachable(data: bytes, name: str, line_max: int) -> bool:
    from pgiam.flow.plan import _unreachable as find

    return find(data, name, line_max) is not None


def _drop_line(data: bytes, key: pgpass.Key, rec: EntryRecord) -> bytes:
    """Remove pgiam's line for the key (only if it still holds a password pgiam wrote), or put back the
    user's line it displaced, in its place."""
    index = bulk.PgpassIndex(data)
    found = index.find(key)
    if found is None or token_hash(found[1]) not in rec.hashes:
        return data
    lines = pgpass.parse(data)
    raws = [line.raw for line in lines]
    idx = found[0]
    if rec.displaced is not None:
        back = rec.displaced.encode("latin-1")
        if raws[idx].endswith(b"\n") and not back.endswith(b"\n"):
            back += raws[idx][len(raws[idx].rstrip(b"\r\n")):]
        raws[idx] = back
    else:
        del raws[idx]
    return b"".join(raws)
