"""`pgiam doctor [NAME] [--connect] [--json]`: gather the inputs, run pgiam.host.doctor's checks, print verdicts.

Exit status: 1 when any check fails, else 0 (warnings do not fail). Tokens never appear in the output.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from pgiam import atomic
from pgiam.config.clouds import CLOUD_KINDS
from pgiam.config.endpoints import parse_endpoint
from pgiam.config.model import Service
from pgiam.config.paths import default_pgpass, default_service_file
from pgiam.errors import PgiamError
from pgiam.flow.context import Context
from pgiam.flow.desired import pgpass_key
from pgiam.host import doctor, libpq_version
from pgiam.host.doctor import Check
from pgiam.libpq import servicefile

DNS_TIMEOUT = 3.0
CONNECT_TIMEOUT = 20.0
MAX_ROOT_BYTES = 4 * 1024 * 1024


def file_info(path: Path) -> doctor.FileInfo:
    try:
        lst = os.lstat(path)
        st = os.stat(path)
    except OSError:
        return doctor.FileInfo(exists=False)
    return doctor.FileInfo(exists=True, regular=stat.S_ISREG(st.st_mode), symlink=stat.S_ISLNK(lst.st_mode),
                           mode=stat.S_IMODE(st.st_mode))


def resolve(host: str, timeout: float = DNS_TIMEOUT) -> doctor.Resolution:
    """gethostbyname_ex in a thread, abandoned after `timeout` seconds."""
    box: list[doctor.Resolution] = []

    def work() -> None:
        try:
            canonical, aliases, _ = socket.gethostbyname_ex(host)
            box.append(doctor.Resolution(canonical, tuple(aliases)))
        except OSError as e:
            box.append(doctor.Resolution(host, (), e.strerror or str(e)))

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(timeout)
    return box[0] if box else doctor.Resolution(host, (), f"no answer within {timeout:g}s")


def default_root(ctx: Context) -> Path:
    """libpq's default sslrootcert: ~/.postgresql/root.crt (%APPDATA%\\postgresql\\root.crt on Windows)."""
    p = ctx.platform
    return default_pgpass(p).parent / "root.crt" if p.windows else p.home / ".postgresql" / "root.crt"


def _read(path: Path) -> bytes | None:
    try:
        with path.open("rb") as f:
            return f.read(MAX_ROOT_BYTES)
    except OSError:
        return None


def _safe_read(path: Path, label: str, checks: list[Check]) -> bytes | None:
    try:
        return atomic.read_file(path)
    except PgiamError as e:
        checks.append(Check(label, doctor.FAIL, str(e), f"fix {path} as the message says"))
        return None


def connect(ctx: Context, svc: Service, known: list[Check] | None = None) -> list[Check]:
    """`psql service=NAME` for real: the verdict, and the clock skew against the server when it worked."""
    psql = shutil.which("psql")
    if psql is None:
        return [Check("connect", doctor.FAIL, "psql not found on PATH",
                      "install the PostgreSQL client (e.g. apt install postgresql-client)", svc.name)]
    env = dict(os.environ)
    if ctx.service_file.absolute() != default_service_file(ctx.platform).absolute():
        env["PGSERVICEFILE"] = str(ctx.service_file.absolute())
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    argv = [psql, "-X", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1", "-d", f"service={svc.name}",
            "-c", "select extract(epoch from now())"]
    before = time.time()
    try:
        p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=CONNECT_TIMEOUT,
                           stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        return [Check("connect", doctor.FAIL, f"psql did not finish within {CONNECT_TIMEOUT:g}s",
                      "check the network path to the server (security group, VPN, tunnel)", svc.name)]
    after = time.time()
    checks = [doctor.explain_connect(svc.name, p.returncode, p.stderr, known or [])]
    if p.returncode == 0:
        try:
            server = float(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return checks
        local = datetime.fromtimestamp((before + after) / 2, tz=timezone.utc)
        checks.append(doctor.clock_skew(svc.name, local, datetime.fromtimestamp(server, tz=timezone.utc)))
    return checks


def _cloud_checks(svc: Service, params: list[tuple[str, str]] | None, version: tuple[int, int] | None,
                  cache: object, now: datetime) -> list[Check]:
    """Azure, Cloud SQL, AlloyDB: the extra, the user name's form, libpq's needs, TLS, and a real token."""
    from pgiam.host import doctor_clouds
    from pgiam.providers import get_provider

    have = doctor_clouds.installed(svc.kind)
    out = [doctor_clouds.extra(svc, have), doctor_clouds.user_name(svc),
           doctor_clouds.libpq_needs(svc, version, params), doctor_clouds.tls(svc, params)]
    if have:
        try:
            tok = get_provider(svc.kind).issue(svc, cache, now)  # type: ignore[arg-type]
        except PgiamError as e:
            out.append(doctor_clouds.credentials(svc, None, None, now, error=str(e)))
        else:
            out.append(doctor_clouds.credentials(svc, tok.source, tok.expires_at, now))
    return out


def gather(ctx: Context, name: str | None, *, connect_db: bool) -> list[Check]:
    env = ctx.platform.env
    checks: list[Check] = []
    cfg = ctx.load_config()
    if name:
        cfg.check_names([name])
    broken = [n for n in ([name] if name else cfg.names) if n in cfg.broken]
    services = [] if name in cfg.broken else cfg.select([name] if name else [])
    for b in broken:
        checks.append(Check(f"{b}: config", doctor.FAIL, str(cfg.broken[b]),
                            f"fix the entry in {ctx.config_path}, or `pgiam remove {b}`"))
    version = libpq_version.detect()
    pgpass_data = _safe_read(ctx.pgpass, "pgpass file", checks)
    service_data = _safe_read(ctx.service_file, "service file", checks)
    pgpass_path, service_path = str(ctx.pgpass), str(ctx.service_file)

    from pgiam.config import paths

    checks.append(doctor.home_directory(ctx.platform, version, paths.passwd_home()))
    if ctx.platform.windows:
        checks.append(doctor.mode_bits(ctx.platform))
    else:
        checks.append(doctor.pgpass_file(pgpass_path, file_info(ctx.pgpass)))
    if pgpass_data:
        checks.append(doctor.pgpass_lines(pgpass_path, pgpass_data, version))
    checks.append(doctor.password_env(env))
    checks.append(doctor.libpq_env(env, pgpass_path, service_path,
                                   passfile_in_stanza=not ctx.pgpass_is_default))
    checks.append(doctor.service_file_lines(service_path, service_data, version))
    roots = [dict(servicefile.get(service_data or b"", s.name) or []).get("sslrootcert") for s in services]
    checks.append(doctor.libpq_version(version, uses_passfile=not ctx.pgpass_is_default,
                                       uses_system_root="system" in roots))
    if not services and not broken:
        checks.append(Check("services", doctor.WARN, f"no services in {ctx.config_path}",
                            "add one with `pgiam add NAME --host ENDPOINT --user USER`"))
        return checks

    from pgiam.aws.credentials import CredentialCache

    cache = CredentialCache(timeout=ctx.credential_timeout)
    now = ctx.now()
    from pgiam.flow import state as saved_state
    from pgiam.flow.desired import db_user
    from pgiam.flow.plan import token_expiry
    from pgiam.host.schedule import lifetime
    from pgiam.libpq import pgpass as pgpass_text

    saved = saved_state.load(ctx.state_path).services
    general = list(checks)
    for svc in services:
        mine: list[Check] = []
        if svc.kind in CLOUD_KINDS:  # Azure, Cloud SQL, AlloyDB: their own credential and TLS checks
            params = servicefile.get(service_data or b"", svc.name)
            mine.append(doctor.stanza(svc, service_path, params, servicefile.is_managed(service_data or b"",
                                                                                        svc.name)))
            mine.append(doctor.pgpass_entry(svc, pgpass_path, pgpass_data, pgpass_key(svc)))
            mine += _cloud_checks(svc, params, version, cache, now)
            if connect_db:
                mine += connect(ctx, svc, general + mine)
            checks += mine
            continue
        # credentials first: without them no refresh can fix anything below
        try:
            creds = cache.get(svc.profile)
        except PgiamError as e:
            mine.append(doctor.credentials(svc, None, None, now, lifetime(svc), error=str(e)))
        else:
            mine.append(doctor.credentials(svc, creds.source, creds.expiry, now, lifetime(svc)))
        creds_ok = mine[-1].status != doctor.FAIL
        params = servicefile.get(service_data or b"", svc.name)
        managed = servicefile.is_managed(service_data or b"", svc.name)
        mine.append(doctor.stanza(svc, service_path, params, managed))
        if svc.jdbc:  # pgjdbc notes only for services that declare Java clients
            mine.append(doctor.jdbc(svc, params))
        bad_keys = doctor.stanza_keys(svc, params, version)
        if bad_keys is not None:
            mine.append(bad_keys)
        user = db_user(svc)
        key = pgpass_key(svc, user)
        mine.append(doctor.pgpass_entry(svc, pgpass_path, pgpass_data, key))
        found = pgpass_text.find(pgpass_data or b"", key)
        stored = found[1] if found else None
        expiry = token_expiry(stored, svc, saved.get(svc.name), now)[0] if stored is not None else None
        tok = doctor.token(svc, stored, expiry, now, user, credentials_ok=creds_ok)
        if tok is not None:
            mine.append(tok)
        tunnel = doctor.tunnel_port(svc)
        if tunnel is not None:
            mine.append(tunnel)
        effective = dict(params or [])
        mode = effective.get("sslmode", svc.sslmode)
        root = effective.get("sslrootcert", svc.sslrootcert) if params is not None else svc.sslrootcert
        mine.append(doctor.sslmode(svc, mode))
        droot = default_root(ctx)
        root_data = None if root == "system" else _read(Path(os.path.expanduser(root)) if root else droot)
        mine.append(doctor.sslrootcert(svc, mode, root, str(droot), root_data))
        mine.append(doctor.region_host(svc))
        mine.append(doctor.host_endpoint(svc, None if parse_endpoint(svc.host) else resolve(svc.host)))
        if not creds_ok:  # no fix that cannot work: a refresh fails the same way until the credentials work
            mine = [_after_credentials(c) for c in mine]
            checks[: len(general)] = [_after_credentials(c) for c in checks[: len(general)]]
        if connect_db:
            mine += connect(ctx, svc, general + mine)
        checks += mine
    return checks


def _after_credentials(c: Check) -> Check:
    if c.name == "credentials" or "pgiam refresh" not in c.fix or c.fix.startswith("fix the AWS credentials"):
        return c
    import dataclasses

    return dataclasses.replace(c, fix=f"fix the AWS credentials first (see the credentials check), then {c.fix}")


_LABEL = {doctor.OK: "ok", doctor.WARN: "WARN", doctor.FAIL: "FAIL"}
_COLOUR = {doctor.OK: "32", doctor.WARN: "33", doctor.FAIL: "1;31"}


def run(ctx: Context, name: str | None, *, connect: bool, as_json: bool) -> int:
    checks = gather(ctx, name, connect_db=connect)
    out = ctx.out.stdout
    if as_json:
        print(json.dumps([c.as_dict() for c in checks], indent=2), file=out)
    else:
        try:
            e = ctx.platform.env
            colour = out.isatty() and not e.get("NO_COLOR") and e.get("TERM") != "dumb"
        except (AttributeError, ValueError):
            colour = False
        for c in checks:
            label = _LABEL[c.status].ljust(4)
            if colour:
                label = f"\033[{_COLOUR[c.status]}m{label}\033[0m"
            where = f"{c.service}: " if c.service else ""
            print(f"{label}  {where}{c.name}: {c.verdict}", file=out)
            if c.fix and c.status != doctor.OK:
                print(f"      fix: {c.fix}", file=out)
    return 1 if doctor.worst(checks) == doctor.FAIL else 0
