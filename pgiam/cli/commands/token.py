"""`pgiam token`: one token on stdout, a drop-in for `aws rds generate-db-auth-token` (and, with
`--kind`, for the DSQL token commands and Redshift's temporary-password calls)."""

from __future__ import annotations

import sys

from pgiam import output
from pgiam.aws import tokeninfo
from pgiam.aws.credentials import CredentialCache
from pgiam.config import kinds
from pgiam.config.endpoints import is_ip_or_local, parse_endpoint
from pgiam.config.model import KINDS, Service
from pgiam.errors import PgiamError, UsageError
from pgiam.flow.context import Context
from pgiam.providers import get_provider


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
    from pgiam.config import clouds

    if kind in clouds.CLOUD_KINDS or (kind is None and clouds.infer_kind(hostname)):
        return _cloud_service(hostname=hostname, port=port, region=region, username=username, profile=profile,
                              kind=kind or "azure", expires_in=expires_in, dbname=dbname)
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
        low, high = kinds.KINDS[kind].min_lifetime, kinds.KINDS[kind].max_lifetime
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


def _cloud_service(
    *, hostname: str, port: int | None, region: str | None, username: str, profile: str | None, kind: str,
    expires_in: int | None, dbname: str | None,
) -> Service:
    """Azure, Cloud SQL, AlloyDB: the identity provider sets the lifetime; no region or AWS profile."""
    from pgiam.config import clouds

    for flag, value in (("--region", region), ("--profile", profile), ("--expires-in", expires_in)):
        if value is not None:
            raise UsageError(f"{flag} is for AWS tokens; {clouds.LABEL[kind]} tokens come from "
                             f"{clouds.LIBRARY[kind]} with the lifetime it gives: drop {flag}")
    problem = clouds.user_problem(kind, username)
    if problem is not None:
        raise UsageError(f"--username: {problem}")
    return Service(name="token", host=hostname, user=username, port=port or 5432, dbname=dbname or "postgres",
                   kind=kind)


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
    output.silence("stanza")  # no stanza is written here
    cache = CredentialCache()
    if svc.kind in ("rds", "dsql", "redshift", "redshift-serverless") and svc.region is None \
            and not cache.region(profile):
        raise UsageError("cannot tell the AWS region: pass --region or set AWS_REGION")
    try:
        token = get_provider(svc.kind).issue(svc, cache, ctx.now())
    except PgiamError as e:  # the providers name the service; here there is none, only --hostname
        raise PgiamError(str(e).replace(f"service {svc.name!r}: ", "", 1), exit_code=e.exit_code) from None
    print(token.value, file=ctx.out.stdout, flush=True)
    if ctx.out.verbose:
        print(
            f"pgiam: user {token.user}, valid until {tokeninfo.iso(token.expires_at)} "
            f"(credentials: {token.source})",
            file=sys.stderr,
            flush=True,
        )
    return 0
