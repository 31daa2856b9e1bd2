"""Pure doctor checks for Azure, Cloud SQL and AlloyDB services (the AWS ones are in doctor.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pgiam.config import clouds
from pgiam.config.model import Service
from pgiam.host.doctor import FAIL, OK, WARN, Check
from pgiam.host.libpq_version import format_version
from pgiam.libpq import rules as libpq_rules

SYSTEM_ROOTCERT_SINCE = (16, 0)


def extra(svc: Service, installed: bool) -> Check:
    """The kind's credential library (a pip extra) can be imported."""
    lib = clouds.LIBRARY[svc.kind]
    if not installed:
        return Check("extra", FAIL, clouds.missing_extra_message(svc.kind), clouds.install_hint(svc.kind), svc.name)
    return Check("extra", OK, f"{lib} is installed (pgiam[{clouds.EXTRA[svc.kind]}])", service=svc.name)


def user_name(svc: Service) -> Check:
    """The database user has the form the kind's server expects."""
    problem = clouds.user_problem(svc.kind, svc.user)
    if problem is not None:
        return Check("user name", FAIL, problem, "fix `user` in the config", svc.name)
    if svc.kind == "azure":
        what = ("a user principal name" if "@" in svc.user else
                "a group, service principal or managed identity name")
        return Check("user name", OK, f"{svc.user!r} is {what}; it must match the role created with "
                     "pgaadauth_create_principal exactly (case and spaces)", service=svc.name)
    what = "a service account (without .gserviceaccount.com)" if svc.user.endswith(".iam") else "a Google account"
    return Check("user name", OK, f"{svc.user!r} is {what}, the form {clouds.LABEL[svc.kind]} IAM users take",
                 service=svc.name)


def libpq_needs(svc: Service, version: tuple[int, int] | None, params: Sequence[tuple[str, str]] | None) -> Check:
    """What this kind needs from libpq: whole long pgpass lines (tokens are 1-3 KB), and for Azure
    sslrootcert=system (16+) unless the stanza names a bundle file."""
    name = "libpq for " + svc.kind
    root = dict(params or []).get("sslrootcert", svc.sslrootcert)
    if version is None:
        return Check(name, WARN, "the libpq version is unknown: tokens need whole pgpass lines (13+)",
                     "install the PostgreSQL client or set PGIAM_LIBPQ_VERSION", svc.name)
    shown = format_version(version)
    if libpq_rules.unlimited_pgpass_lines(version) is False:
        return Check(name, FAIL, f"libpq {shown} cuts pgpass lines at 319 bytes; {clouds.LABEL[svc.kind]} tokens "
                     "are longer", "upgrade the PostgreSQL client to 13+", svc.name)
    if root == "system" and version < SYSTEM_ROOTCERT_SINCE:
        return Check(name, FAIL, f"libpq {shown} does not know sslrootcert=system (16+)",
                     f"run `pgiam refresh --force {svc.name}` (it uses the OS bundle file instead)", svc.name)
    return Check(name, OK, f"libpq {shown} reads the token whole" +
                 (" and knows sslrootcert=system" if root == "system" else ""), service=svc.name)


def tls(svc: Service, params: Sequence[tuple[str, str]] | None) -> Check:
    mode = dict(params or []).get("sslmode", svc.sslmode)
    if mode == "require":
        fix = ("set `sslrootcert = PATH` to the instance's server CA (sslmode then defaults to verify-ca)"
               if svc.kind in clouds.GCP_KINDS else
               "set `sslrootcert = PATH` to a bundle with DigiCert Global Root G2 and Microsoft RSA Root "
               "Certificate Authority 2017, or use libpq 16+")
        return Check("tls", WARN, "sslmode=require: traffic is encrypted but the server is not verified", fix,
                     svc.name)
    return Check("tls", OK, f"sslmode={mode}", service=svc.name)


def credentials(svc: Service, source: str | None, expiry: datetime | None, now: datetime,
                error: str | None = None) -> Check:
    name = "credentials"
    if error:
        return Check(name, FAIL, error, "fix the credentials as the message says", svc.name)
    left = int(((expiry or now) - now).total_seconds())
    return Check(name, OK, f"{source} served a {clouds.LABEL[svc.kind]} token valid for {left // 60} more min",
                 service=svc.name)


def installed(kind: str) -> bool:
    """Whether the kind's credential library can be found (without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec(clouds.MODULE[kind]) is not None
    except (ImportError, ValueError):
        return False
