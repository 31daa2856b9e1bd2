"""RDS / Aurora / RDS Proxy IAM tokens: a local SigV4 presign, no botocore client, no network."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pgiam.aws import sigv4
from pgiam.config.kinds import KINDS
from pgiam.errors import ConfigError
from pgiam.providers.base import Token

if TYPE_CHECKING:
    from pgiam.aws.credentials import CredentialCache
    from pgiam.config.model import Service

LIFETIME = KINDS["rds"].lifetime  # seconds; fixed by RDS
SERVICE = "rds-db"


def sign(
    *, host: str, port: int, region: str, user: str, access_key: str, secret_key: str,
    session_token: str | None, now: datetime,
) -> str:
    """Exactly what `aws rds generate-db-auth-token` prints for the same inputs and clock."""
    return sigv4.presign(
        host=host, port=port, region=region, service=SERVICE,
        params=(("Action", "connect"), ("DBUser", user)),
        access_key=access_key, secret_key=secret_key, session_token=session_token,
        now=now, expires=LIFETIME,
    )


def resolve_region(svc: Service, creds: CredentialCache) -> str:
    region = svc.region or creds.region(svc.profile)
    if not region:
        raise ConfigError(
            f"service {svc.name!r}: cannot tell the AWS region from host {svc.sign_host!r}; "
            "set `region =` in the config or AWS_REGION"
        )
    return region


class RdsProvider:
    def region(self, svc: Service, creds: CredentialCache) -> str:
        return resolve_region(svc, creds)

    def issue(self, svc: Service, creds: CredentialCache, now: datetime) -> Token:
        region = resolve_region(svc, creds)
        c = creds.get(svc.profile)
        value = sign(
            host=svc.sign_host, port=svc.port, region=region, user=svc.user,
            access_key=c.access_key, secret_key=c.secret_key, session_token=c.session_token, now=now,
        )
        expires = now + timedelta(seconds=LIFETIME)
        if c.expiry is not None and c.expiry < expires:
            expires = c.expiry
        return Token(value=value, user=svc.user, expires_at=expires, source=c.source)


PROVIDER = RdsProvider()
