"""`pgiam token`: one token on stdout, a drop-in for `aws rds generate-db-auth-token` (and, with
`--kind`, for the DSQL token commands and Redshift's temporary-password calls)."""

from __future__ import annotations

import sys

from pgiam import notices
from pgiam.aws import tokeninfo
from pgiam.aws.credentials import CredentialCache
from pgiam.config.endpoints import is_ip_or_local, parse_endpoint
from pgiam.config.model import KINDS, Service
from pgiam.errors import UsageError
from pgiam.flow.context import Context
from pgiam.providers import get_provider

LIFETIMES = {
    "rds": (900, 900),
    "dsql": (1, 604800),
    "redshift": (900, 3600),
    "redshift-serverless": (900, 3600),
}


def build_service(
    *,
    hostname: str,
    port: int | None,
    region: str | None,
    username: str,
    profile: str | None,
    kind: str | None,
    expires_in: int | None,
    dbname: str | None,
    any_host: bool,
) -> Service:
    """Validate the command line into the same Service value the config would produce."""
    ep = parse_endpoint(hostname)
    if kind is None:
        kind = ep.family if ep is not None else "rds"
    if kind not in KINDS:
        raise UsageError(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if ep is None and not any_host:
        what = "an IP address or localhost" if is_ip_or_local(hostname) else "not an AWS endpoint name"
        raise UsageError(
            f"--hostname {hostname} is {what}; AWS only accepts tokens signed for the endpoint name "
            "(tunnels sign for the endpoint and dial 127.0.0.1); pass --any-host to sign for it anyway"
        )
    if ep is not None and ep.family != kind:
        raise UsageError(
            f"--hostname {hostname} is a {ep.family} endpoint, not {kind}; fix --kind or --hostname"
        )
    if region and ep is not None and ep.region != region:
        raise UsageError(
            f"--region {region} does not match the region {ep.region} in --hostname {hostname}; "
            "drop --region or fix it"
        )
    if expires_in is not None:
        low, high = LIFETIMES[kind]
        if not low <= expires_in <= high:
            span = f"{low}" if low == high else f"{low} to {high}"
            raise UsageError(f"--expires-in: {kind} tokens live {span} seconds, not {expires_in}")
    if port is None:
        port = 5439 if kind.startswith("redshift") else 5432
    if not 1 <= port <= 65535:
        raise UsageError(f"--port {port}: a TCP port is 1-65535")
    return Service(
        name="token",
        host=hostname,
        user=username,
        port=port,
        dbname=dbname or "",
        kind=kind,
        region=region or (ep.region if ep is not None else None),
        profile=profile,
        token_lifetime=expires_in,
    )


def run(
    ctx: Context,
    *,
    hostname: str,
    port: int | None,
    region: str | None,
    username: str,
    profile: str | None,
    kind: str | None = None,
    expires_in: int | None = None,
    dbname: str | None = None,
    any_host: bool = False,
) -> int:
    svc = build_service(
        hostname=hostname,
        port=port,
        region=region,
        username=username,
        profile=profile,
        kind=kind,
        expires_in=expires_in,
        dbname=dbname,
        any_host=any_host,
    )
    notices.silence("stanza")  # no stanza is written here
    cache = CredentialCache()
    if svc.region is None and not cache.region(profile):
        raise UsageError("cannot tell the AWS region: pass --region or set AWS_REGION")
    token = get_provider(svc.kind).issue(svc, cache, ctx.now())
    print(token.value, file=ctx.out.stdout, flush=True)
    if ctx.out.verbose:
        print(
            f"pgiam: user {token.user}, valid until {tokeninfo.iso(token.expires_at)} "
            f"(credentials: {token.source})",
            file=sys.stderr,
            flush=True,
        )
    return 0
