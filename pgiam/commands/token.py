"""`pgiam token`: a drop-in for `aws rds generate-db-auth-token`."""

from __future__ import annotations

from pgiam.context import Context
from pgiam.credentials import CredentialCache
from pgiam.endpoints import parse_endpoint
from pgiam.errors import UsageError
from pgiam.providers import rds


def run(ctx: Context, *, hostname: str, port: int, region: str | None, username: str, profile: str | None) -> int:
    ep = parse_endpoint(hostname)
    if region and ep is not None and ep.region != region:
        raise UsageError(
            f"--region {region} does not match the region {ep.region} in --hostname {hostname}; "
            "drop --region or fix it"
        )
    cache = CredentialCache()
    region = region or (ep.region if ep else None) or cache.region(profile)
    if not region:
        raise UsageError("cannot tell the AWS region: pass --region or set AWS_REGION")
    creds = cache.get(profile)
    token = rds.sign(
        host=hostname, port=port, region=region, user=username, access_key=creds.access_key,
        secret_key=creds.secret_key, session_token=creds.session_token, now=ctx.now(),
    )
    print(token, file=ctx.out.stdout, flush=True)
    return 0
