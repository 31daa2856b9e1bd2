"""Pure checks behind `pgiam doctor`: plain inputs in, Check(name, status, verdict, fix) out.

Gathering the inputs (files, environment, libpq version, DNS, psql) is commands/doctor.py's job.
The libpq rules come from shared/LIBPQ.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from pgiam.config.endpoints import parse_endpoint
from pgiam.config.model import Service
from pgiam.config.paths import Platform
from pgiam.host import ca
from pgiam.libpq import pgpass, servicefile
from pgiam.libpq import rules as libpq_rules
from pgiam.libpq.version import format_version

OK, WARN, FAIL = "ok", "warn", "fail"

SKEW_WARN = 60
SKEW_FAIL = 300  # SigV4 accepts a request time within 5 minutes of AWS's clock


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    verdict: str  # one line
    fix: str = ""
    service: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"service": self.service, "check": self.name, "status": self.status, "verdict": self.verdict,
                "fix": self.fix}


@dataclass(frozen=True)
class FileInfo:
    """What lstat/stat said about a file (None fields: missing)."""

    exists: bool
    regular: bool = True
    symlink: bool = False
    mode: int = 0o600


@dataclass(frozen=True)
class Resolution:
    """socket.gethostbyname_ex's answer: the canonical name and the aliases (CNAMEs) on the way."""

    canonical: str
    aliases: tuple[str, ...] = ()
    error: str | None = None


def worst(checks: Sequence[Check]) -> str:
    order = {OK: 0, WARN: 1, FAIL: 2}
    return max((c.status for c in checks), key=order.__getitem__, default=OK)


# --------------------------------------------------------------------------- files and environment


def pgpass_file(path: str, info: FileInfo) -> Check:
    name = "pgpass file"
    if not info.exists:
        return Check(name, WARN, f"{path} does not exist yet", "run `pgiam refresh` to create it")
    if not info.regular:
        return Check(name, FAIL, f"{path} is not a regular file; libpq cannot use it",
                     f"remove {path}, then run `pgiam refresh`")
    if info.mode & 0o077:
        return Check(name, FAIL, f"{path} has mode {info.mode:04o}; libpq ignores a pgpass file that "
                     "group or others can access", f"chmod 600 {path} (`pgiam refresh` also fixes it)")
    link = " (through a symlink)" if info.symlink else ""
    return Check(name, OK, f"{path} is a regular file with mode {info.mode:04o}{link}")


def pgpass_lines(path: str, data: bytes | None, version: tuple[int, int] | None = None) -> Check:
    notes = pgpass.problems(data or b"")
    if libpq_rules.unlimited_pgpass_lines(version):  # this libpq reads long lines whole
        notes = [n for n in notes if "bytes long" not in n]
    if not notes:
        return Check("pgpass lines", OK, f"{path}: no lines libpq would misread")
    extra = f" (+{len(notes) - 1} more)" if len(notes) > 1 else ""
    return Check("pgpass lines", WARN, f"{path}: {notes[0]}{extra}",
                 f"edit {path}; see `pgiam doctor --json` for every line")


def pgpass_entry(svc: Service, path: str, data: bytes | None, key: pgpass.Key) -> Check:
    """Our line exists and is the one libpq picks (no earlier line shadows it)."""
    name = "pgpass entry"
    ours = pgpass.find(data or b"", key)
    if ours is None:
        return Check(name, FAIL, f"{path} has no line for {key.host}:{key.port}:{key.dbname}:{key.user}",
                     f"run `pgiam refresh {svc.name}`", svc.name)
    picked = pgpass.lookup(data or b"", key.host, key.port, key.dbname, key.user)
    if picked is not None and picked[0] != ours[0]:
        return Check(name, FAIL, f"line {picked[0] + 1} of {path} matches this connection before "
                     f"pgiam's line {ours[0] + 1}, so libpq never uses the token",
                     f"delete or narrow line {picked[0] + 1}, or run `pgiam refresh --force {svc.name}` "
                     "(it puts the token first)", svc.name)
    return Check(name, OK, f"line {ours[0] + 1} of {path} is the one libpq uses", service=svc.name)


def password_env(env: Mapping[str, str]) -> Check:
    if env.get("PGPASSWORD"):
        return Check("PGPASSWORD", WARN, "PGPASSWORD is set: libpq sends it instead of any pgpass token",
                     "unset PGPASSWORD (use `pgiam exec NAME -- CMD` to pass a fresh token to one command)")
    return Check("PGPASSWORD", OK, "PGPASSWORD is not set")


def libpq_env(env: Mapping[str, str], pgpass_path: str, service_path: str, passfile_in_stanza: bool) -> Check:
    """PGPASSFILE / PGSERVICEFILE / PGSYSCONFDIR: report them; fail when libpq reads other files than
    pgiam writes."""
    seen = [f"{k}={env[k]}" for k in ("PGPASSFILE", "PGSERVICEFILE", "PGSYSCONFDIR") if env.get(k)]
    name = "libpq environment"
    sf = env.get("PGSERVICEFILE")
    if sf and sf != service_path:
        return Check(name, FAIL, f"PGSERVICEFILE={sf} but pgiam writes {service_path}; libpq will not find "
                     "pgiam's stanzas", f"pass --service-file {sf} to pgiam, or unset PGSERVICEFILE")
    pf = env.get("PGPASSFILE")
    if pf and pf != pgpass_path and not passfile_in_stanza:
        return Check(name, FAIL, f"PGPASSFILE={pf} but pgiam writes {pgpass_path}; libpq reads the other "
                     "file",
                     f"pass --pgpass {pf} to pgiam, or unset PGPASSFILE")
    if not seen:
        return Check(name, OK, "no PGPASSFILE, PGSERVICEFILE or PGSYSCONFDIR: libpq uses its default files")
    return Check(name, OK, "in effect: " + ", ".join(seen) + " (scheduled jobs pass pgiam's paths "
                 "explicitly)")


def _line_limit(version: tuple[int, int] | None) -> int:
    return libpq_rules.service_line_max(version)


def service_file_lines(path: str, data: bytes | None, version: tuple[int, int] | None) -> Check:
    """Over-long lines (which break every lookup after them), duplicates and syntax errors."""
    name = "service file lines"
    raw = data or b""
    limit = _line_limit(version)
    for no, line in enumerate(raw.splitlines(), 1):
        if len(line) > limit:
            which = f"libpq {format_version(version)}" if version else "libpq 13 and older"
            status = FAIL if version is not None or len(line) > servicefile.MAX_LINE else WARN
            return Check(name, status, f"{path} line {no} is {len(line)} bytes; {which} rejects lines over "
                         f"{limit} bytes and then fails every service lookup after it",
                         f"shorten or remove line {no} of {path}")
    notes = [n for n in servicefile.problems(raw) if "bytes long" not in n]  # lengths: judged above
    dupes = [n for n in notes if "repeats the stanza" in n]
    if dupes:
        return Check(name, WARN, f"{path}: {dupes[0]}", f"remove the duplicate stanza from {path}")
    if notes:
        return Check(name, WARN, f"{path}: {notes[0]}", f"fix that line of {path}")
    return Check(name, OK, f"{path}: no duplicate, over-long or malformed lines")


def stanza(svc: Service, path: str, params: Sequence[tuple[str, str]] | None, managed: bool | None) -> Check:
    name = "stanza"
    if params is None:
        return Check(name, FAIL, f"{path} has no [{svc.name}] stanza", f"run `pgiam refresh {svc.name}`",
                     svc.name)
    if any(k == "password" for k, _ in params):
        return Check(name, FAIL, f"[{svc.name}] in {path} has a password= line; it wins over the pgpass "
                     "token",
                     f"delete the password= line from [{svc.name}]", svc.name)
    if not managed:
        return Check(name, WARN, f"[{svc.name}] in {path} was not written by pgiam",
                     f"run `pgiam refresh --force {svc.name}` to take it over", svc.name)
    return Check(name, OK, f"[{svc.name}] in {path} is pgiam's and has no password=", service=svc.name)


def stanza_keys(svc: Service, params: Sequence[tuple[str, str]] | None,
                version: tuple[int, int] | None) -> Check | None:
    """Keywords this libpq does not know make it reject the whole stanza."""
    bad = libpq_rules.unknown_stanza_keys(version, [k for k, _ in params or []])
    if not bad:
        return None
    return Check("stanza keys", FAIL, f"libpq {format_version(version)} rejects [{svc.name}]: unknown "
                 f"keyword{'s' if len(bad) > 1 else ''} {', '.join(bad)}",
                 "upgrade the PostgreSQL client, or remove the keyword (libpq table in the config)", svc.name)


# --------------------------------------------------------------------------- libpq


def libpq_version(version: tuple[int, int] | None, uses_passfile: bool = False,
                  uses_system_root: bool = False) -> Check:
    name = "libpq version"
    if version is None:
        return Check(name, WARN, "no pg_config or psql found, so the libpq version is unknown",
                     "install the PostgreSQL client, or set PGIAM_LIBPQ_VERSION=15.4 to the version your "
                     "clients use")
    shown = format_version(version)
    if libpq_rules.unlimited_pgpass_lines(version) is False:
        return Check(name, FAIL, f"libpq {shown} reads at most 319 bytes of a pgpass line and cuts every IAM "
                     "token (login fails: 'password retrieved from file')",
                     "upgrade the PostgreSQL client to 13+ (or 12.5, 11.10, 10.15, 9.6.20, 9.5.24)")
    if uses_passfile and not libpq_rules.keyword_known(version, "passfile"):
        return Check(name, FAIL, f"libpq {shown} does not know passfile=, which a stanza uses",
                     "upgrade the PostgreSQL client to 10+, or keep pgpass at ~/.pgpass")
    if uses_system_root and libpq_rules.supports_sslrootcert_system(version) is False:
        return Check(name, FAIL, f"libpq {shown} has no sslrootcert=system (16+): it looks for a file "
                     "named 'system'", "set sslrootcert to a CA bundle file, or upgrade the client to 16+")
    limit = _line_limit(version)
    return Check(name, OK, f"libpq {shown}: long pgpass lines OK, service file lines up to {limit} bytes")


# --------------------------------------------------------------------------- TLS


def sslmode(svc: Service, mode: str) -> Check:
    if mode == "verify-full":
        return Check("sslmode", OK, "sslmode=verify-full", service=svc.name)
    what = ("checks the CA but not the host name" if mode == "verify-ca"
            else "encrypts but does not check the server: an impostor could capture a 15-minute token")
    return Check("sslmode", WARN, f"sslmode={mode} {what}",
                 f"pgiam add {svc.name} ... --sslmode verify-full (with `pgiam ca install` for the CA)",
                 svc.name)


def sslrootcert(svc: Service, mode: str, root: str | None, default_root: str, data: bytes | None) -> Check:
    """data: the file's bytes (None when missing) — root when set, else libpq's default root.crt."""
    name = "sslrootcert"
    if mode not in ("verify-ca", "verify-full"):
        return Check(name, OK, f"not needed with sslmode={mode}", service=svc.name)
    if root == "system":
        return Check(name, OK, "sslrootcert=system (the operating system's CAs)", service=svc.name)
    path = root or default_root
    fix = (f"run `pgiam ca install`, then `pgiam add {svc.name} ...` again (it picks the bundle up), or set "
           "sslrootcert to your CA bundle")
    if data is None:
        which = "sslrootcert" if root else "no sslrootcert is set and libpq's default"
        return Check(name, FAIL, f"{which} {path} does not exist; verify-full cannot check the server", fix,
                     svc.name)
    try:
        n = ca.count_certificates(data, path)
    except ca.BundleError as e:
        return Check(name, FAIL, str(e), fix, svc.name)
    return Check(name, OK, f"{path}: {n} PEM certificate{'s' if n != 1 else ''}", service=svc.name)


# --------------------------------------------------------------------------- endpoint, region


def region_host(svc: Service) -> Check:
    ep = parse_endpoint(svc.sign_host)
    if ep is None:
        region = svc.region or "the profile's region"
        return Check("region", WARN, f"{svc.sign_host} does not name its region; tokens are signed for "
                     f"{region}",
                     "sign for the real endpoint name (signing_host) so the region cannot drift", svc.name)
    if svc.region and svc.region != ep.region:
        return Check("region", FAIL, f"region {svc.region} does not match {ep.region} in {svc.sign_host}",
                     "remove `region` from the service or fix it", svc.name)
    return Check("region", OK, f"{ep.region}, as in the host name", service=svc.name)


def host_endpoint(svc: Service, resolved: Resolution | None) -> Check:
    """An AWS endpoint as host (what the certificate and the token name), or the endpoint a CNAME hides."""
    name = "host"
    if parse_endpoint(svc.host) is not None:
        return Check(name, OK, f"{svc.host} is an AWS endpoint name", service=svc.name)
    if resolved is None or resolved.error:
        why = f" (DNS: {resolved.error})" if resolved and resolved.error else ""
        return Check(name, WARN, f"{svc.host} is not an AWS endpoint name{why}; verify-full checks the "
                     "certificate against it",
                     "use the RDS endpoint as host (hostaddr/local_port for tunnels)", svc.name)
    names = [resolved.canonical, *resolved.aliases]
    endpoints = [n.rstrip(".").lower() for n in names if parse_endpoint(n) is not None]
    if endpoints:
        ep = endpoints[0]
        also = "" if svc.sign_host.lower() == ep else f"; tokens are signed for {svc.sign_host}, not {ep}"
        return Check(name, FAIL, f"{svc.host} is a CNAME of {ep}: the certificate names {ep}{also}",
                     f"pgiam add {svc.name} --host {ep} ... (and drop signing_host)", svc.name)
    return Check(name, WARN, f"{svc.host} is not an AWS endpoint and does not resolve to one",
                 "use the RDS endpoint as host", svc.name)


# --------------------------------------------------------------------------- credentials, clock


def credentials(svc: Service, source: str | None, expiry: datetime | None, now: datetime, lifetime: int,
                error: str | None = None) -> Check:
    name = "credentials"
    who = f"profile {svc.profile!r}" if svc.profile else "the default chain"
    if error:
        return Check(name, FAIL, f"{who}: {error}", "fix the AWS credentials as the message says", svc.name)
    if expiry is None:
        return Check(name, OK, f"{who}: {source or 'unknown source'}, no expiry", service=svc.name)
    left = int((expiry - now).total_seconds())
    if left < lifetime:
        return Check(name, WARN, f"{who}: {source} credentials expire in {max(left, 0) // 60} min, before a "
                     f"{lifetime // 60}-min token would: tokens are cut short",
                     f"renew them (e.g. `aws sso login{' --profile ' + svc.profile if svc.profile else ''}`)",
                     svc.name)
    return Check(name, OK, f"{who}: {source} credentials valid for {left // 60} more min", service=svc.name)


def clock_skew(svc_name: str, local: datetime, server: datetime) -> Check:
    skew = (local - server).total_seconds()
    text = f"local clock is {abs(skew):.0f}s {'ahead of' if skew > 0 else 'behind'} the server"
    if abs(skew) > SKEW_FAIL:
        return Check("clock", FAIL, text + "; AWS refuses tokens signed more than 5 min off",
                     "sync the clock (timedatectl set-ntp true / chrony / sntp)", svc_name)
    if abs(skew) > SKEW_WARN:
        return Check("clock", WARN, text, "sync the clock with NTP", svc_name)
    return Check("clock", OK, text, service=svc_name)


# --------------------------------------------------------------------------- the stored token

FUTURE_FAIL = 300  # AWS refuses a presigned request dated more than 5 minutes ahead of its clock
_LOOPBACK = ("127.", "::1", "localhost")


def _ago(seconds: float) -> str:
    s = int(abs(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m" if s >= 60 else f"{s}s"


def token(svc: Service, stored: str | None, effective_expiry: datetime | None, now: datetime, db_user: str,
          credentials_ok: bool = True) -> Check | None:
    """What the token in pgpass says about itself: would the server accept it now, for this service?

    effective_expiry: the expiry pgiam trusts (the token's own, capped by the recorded credential expiry).
    None when there is no stored token (the pgpass entry check already says so)."""
    from pgiam.aws import tokeninfo

    if stored is None:
        return None
    name = "token"
    again = (f"run `pgiam refresh --force {svc.name}`" if credentials_ok else
             f"fix the AWS credentials first (see the credentials check), then `pgiam refresh --force {svc.name}`")
    info = tokeninfo.decode(stored)
    if info is not None:
        want_host = svc.sign_host if svc.kind == "dsql" else f"{svc.sign_host}:{svc.port}"
        if info.host.lower() != want_host.lower():
            return Check(name, FAIL, f"the token in pgpass is signed for {info.host}, not {want_host}: the "
                         "server refuses it", again, svc.name)
        if info.user is not None and info.user != db_user:
            return Check(name, FAIL, f"the token in pgpass is for database user {info.user!r}, not "
                         f"{db_user!r}", again, svc.name)
        ep = parse_endpoint(svc.sign_host)
        want_region = svc.region or (ep.region if ep else None)
        if want_region and info.region and info.region != want_region:
            return Check(name, FAIL, f"the token in pgpass is signed for region {info.region}, but "
                         f"{svc.sign_host} is in {want_region}",
                         f"remove or fix `region` of {svc.name}, then `pgiam refresh --force {svc.name}`",
                         svc.name)
        ahead = (info.signed_at - now).total_seconds()
        if ahead > FUTURE_FAIL:
            return Check(name, FAIL, f"the token in pgpass is dated {_ago(ahead)} in the future "
                         f"({tokeninfo.iso(info.signed_at)}): it was signed with a clock that ran ahead, "
                         "and the server refuses it", f"sync the clock, then {again.split('run ', 1)[-1]}",
                         svc.name)
    if effective_expiry is None:
        return Check(name, WARN, "the expiry of the password in pgpass is unknown", again, svc.name)
    left = (effective_expiry - now).total_seconds()
    if left <= 0:
        job = " (is the scheduled job running? `pgiam schedule show`)" if credentials_ok else ""
        fix = (f"run `pgiam refresh {svc.name}`{job}" if credentials_ok else
               f"fix the AWS credentials first (see the credentials check), then `pgiam refresh {svc.name}`")
        return Check(name, FAIL, f"the token in pgpass expired {_ago(left)} ago "
                     f"({tokeninfo.iso(effective_expiry)}): the server refuses it", fix, svc.name)
    what = f" for {info.host} as {info.user or db_user}" if info is not None else ""
    region = f" in {info.region}" if info is not None and info.region else ""
    return Check(name, OK, f"the token in pgpass is valid for {_ago(left)} more{what}{region}",
                 service=svc.name)


def default_port(kind: str) -> int:
    return 5439 if kind.startswith("redshift") else 5432


def tunnel_port(svc: Service) -> Check | None:
    """`--port 15432` where `--local-port 15432` was meant: a loopback hostaddr, no local port, and a port
    that is not the engine's usual one. The token is then signed for the tunnel's port, which the real
    endpoint refuses."""
    if not svc.hostaddr or not svc.hostaddr.startswith(_LOOPBACK) or svc.local_port is not None:
        return None
    usual = default_port(svc.kind)
    if svc.port == usual:
        return None
    return Check("tunnel port", WARN, f"hostaddr {svc.hostaddr} is a tunnel, yet tokens are signed for port "
                 f"{svc.port} (the endpoint usually listens on {usual}): the server refuses a token signed "
                 "for the tunnel's port",
                 f"did you mean `--local-port {svc.port}`? `pgiam add {svc.name} --host {svc.host} --port "
                 f"{usual} --local-port {svc.port} --hostaddr {svc.hostaddr} ...`", svc.name)


def refusal_cause(svc_name: str, first_line: str, known: Sequence[Check]) -> Check | None:
    """A refused login explained by the first cause pgiam can see (credentials, PGPASSWORD, the stored
    token, the tunnel port, the region), before any generic advice."""
    order = ("credentials", "PGPASSWORD", "token", "tunnel port", "region")
    for wanted in order:
        for c in known:
            if c.name == wanted and c.status != OK and c.service in (svc_name, None):
                return Check("connect", FAIL, f"the server refused the login; likely cause: {c.verdict} "
                             f"(psql: {first_line})", c.fix, svc_name)
    return None


# --------------------------------------------------------------------------- --connect

_REFUSED = r"(pam|ldap|password) authentication failed"
_CAUSES: tuple[tuple[str, str, str], ...] = (
    (r"authentication failed.*password retrieved from file",
     "the server refused the token from pgpass",
     "check clock skew, the IAM policy (rds-db:connect for this user), `GRANT rds_iam`, then "
     "`pgiam refresh --force NAME`; an old libpq cuts long pgpass lines"),
    (r"(pam|ldap|password) authentication failed",
     "the server refused the token",
     "check the IAM policy (rds-db:connect on this db user), `GRANT rds_iam TO user`, the region and the "
     "clock, then `pgiam refresh --force NAME`"),
    (r"no password supplied",
     "libpq found no password: pgpass not used",
     "run `pgiam doctor NAME` without --connect: check pgpass mode, PGPASSFILE and the host/port/user line"),
    (r"definition of service .* not found",
     "libpq did not find the stanza", "check PGSERVICEFILE and run `pgiam refresh NAME`"),
    (r"(syntax error|line \d+ too long) in service file",
     "libpq rejected the service file", "run `pgiam doctor` and fix the line it names"),
    (r"root certificate file .* does not exist",
     "the CA bundle is missing", "run `pgiam ca install` and `pgiam add NAME ...` again"),
    (r"certificate verify failed|self[- ]signed certificate",
     "the server certificate is not signed by a CA in sslrootcert",
     "run `pgiam ca install` (the RDS bundle)"),
    (r"does not match host name",
     "the certificate names another host (a CNAME as host?)", "use the RDS endpoint as host"),
    (r"could not translate host name",
     "DNS cannot resolve the host", "check the host name, VPN or DNS; tunnels use hostaddr"),
    (r"connection refused|timeout expired|timed out|no route to host|network is unreachable",
     "no TCP connection to the server", "check security groups, VPN, the port, or that the tunnel is up"),
    (r"no pg_hba\.conf entry",
     "the server refused this client/TLS combination", "use sslmode=verify-full; check the server's pg_hba"),
    (r"database .* does not exist", "wrong dbname", "fix dbname with `pgiam add NAME --dbname DB ...`"),
)


def explain_connect(svc_name: str, returncode: int, stderr: str, known: Sequence[Check] = ()) -> Check:
    """Map a failed `psql service=NAME` to the likely cause (stderr never holds the token); a refused
    login is first explained by what the other checks (`known`) found."""
    if returncode == 0:
        return Check("connect", OK, "psql connected and ran `select 1`", service=svc_name)
    text = " ".join(stderr.split())
    first = (stderr.strip().splitlines() or [f"psql exited with status {returncode}"])[0].strip()
    if re.search(_REFUSED, text, re.I):
        seen = refusal_cause(svc_name, first, known)
        if seen is not None:
            return seen
    for pattern, cause, fix in _CAUSES:
        if re.search(pattern, text, re.I):
            return Check("connect", FAIL, f"{cause}: {first}", fix.replace("NAME", svc_name), svc_name)
    return Check("connect", FAIL, first, f"run `psql service={svc_name}` by hand to see more", svc_name)


# --------------------------------------------------------------------------- platform (issue 6)


def home_directory(platform: Platform, version: tuple[int, int] | None, passwd_home: str | None) -> Check:
    """Which pgpass/service file psql really reads: libpq <= 14 uses the passwd home, not $HOME."""
    from pgiam.config import paths

    name = "home directory"
    pw, pw_note = paths.effective_pgpass(platform, version, passwd_home)
    sf, sf_note = paths.effective_service_file(platform, version, passwd_home)
    notes = [n for n in (pw_note, sf_note) if n]
    if not notes:
        return Check(name, OK, f"psql reads {pw} and {sf}")
    status = WARN if version is None or "does not expand" in " ".join(notes) else FAIL
    verdict, _, fix = notes[0].partition("; ")
    return Check(name, status, verdict, fix)


def mode_bits(platform: Platform) -> Check:
    """Windows: say there are no mode bits rather than pretend the pgpass file is 0600."""
    from pgiam.config import paths

    note = paths.permissions_note(platform)
    if note is None:
        return Check("file permissions", OK, "POSIX mode bits: pgiam keeps the pgpass file at 0600")
    fix = "keep %APPDATA%\\postgresql readable only by you (NTFS ACLs)"
    return Check("file permissions", WARN, note, fix)


def jdbc(svc: Service, params: Sequence[tuple[str, str]] | None) -> Check:
    """pgjdbc 42.3+ reads the same service file and rejects a stanza with keys it does not know."""
    bad = libpq_rules.jdbc_incompatible_keys(params or [])
    if not bad:
        return Check("pgjdbc", OK, "the stanza has only keys pgjdbc accepts", service=svc.name)
    if svc.jdbc:
        return Check("pgjdbc", FAIL, f"jdbc = true, yet [{svc.name}] has keys pgjdbc rejects: {', '.join(bad)}",
                     f"run `pgiam refresh --force {svc.name}` to rewrite the stanza", svc.name)
    # informational: most users have no Java client, and libpq needs these keys
    return Check("pgjdbc", OK, f"fine for libpq; pgjdbc (42.3+) would reject [{svc.name}] for "
                 f"{', '.join(bad)}", f"set `jdbc = true` for {svc.name} if Java clients use this service",
                 svc.name)
