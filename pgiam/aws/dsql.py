"""Aurora DSQL tokens: a local SigV4 presign for `dsql` (no port in the signed host), like
`aws dsql generate-db-connect[-admin]-auth-token`. The `admin` role signs DbConnectAdmin, every
other role DbConnect. Lifetime 900 s unless `token_lifetime` (at most one week)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pgiam import output
from pgiam.aws import sigv4
from pgiam.aws.rds import resolve_region
from pgiam.config.kinds import KINDS
from pgiam.config.kinds import lifetime as lifetime_of
from pgiam.providers.base import Token

if TYPE_CHECKING:
    from pgiam.aws.credentials import CredentialCache
    from pgiam.config.model import Service

SERVICE = "dsql"
ADMIN_ROLE = "admin"
SYSTEM_ROOTCERT_SINCE = (16, 0)  # libpq learned sslrootcert=system in 16


def action_for(user: str) -> str:
    """DbConnectAdmin for the `admin` role, DbConnect for custom roles."""
    return "DbConnectAdmin" if user == ADMIN_ROLE else "DbConnect"


def sign(
    *,
    host: str,
    region: str,
    action: str,
    access_key: str,
    secret_key: str,
    session_token: str | None,
    now: datetime,
    expires: int = KINDS["dsql"].lifetime,
) -> str:
    """Exactly what botocore's generate_db_connect[_admin]_auth_token returns for the same inputs."""
    return sigv4.presign(
        host=host,
        port=None,
        region=region,
        service=SERVICE,
        params=(("Action", action),),
        access_key=access_key,
        secret_key=secret_key,
        session_token=session_token,
        now=now,
        expires=expires,
    )


def _system_rootcert_ok(svc: Service) -> bool:
    from pgiam.host import libpq_version

    version = libpq_version.detect()
    return not svc.jdbc and version is not None and version >= SYSTEM_ROOTCERT_SINCE


class DsqlProvider:
    def region(self, svc: Service, creds: CredentialCache) -> str:
        return resolve_region(svc, creds)

    def issue(self, svc: Service, creds: CredentialCache, now: datetime) -> Token:
        region = resolve_region(svc, creds)
        c = creds.get(svc.profile)
        lifetime = lifetime_of(svc.kind, svc.token_lifetime)
        value = sign(
            host=svc.sign_host,
            region=region,
            action=action_for(svc.user),
            access_key=c.access_key,
            secret_key=c.secret_key,
            session_token=c.session_token,
            now=now,
            expires=lifetime,
        )
        expires = now + timedelta(seconds=lifetime)
        if c.expiry is not None and c.expiry < expires:
            expires = c.expiry
        if svc.sslrootcert is None and not _system_rootcert_ok(svc):
            output.warn(  # a notice about the stanza: `pgiam token` silences this channel
                f"{svc.name}: the local libpq is older than 16 or unknown (no sslrootcert=system), so the stanza "
                "uses sslmode=require; set `sslrootcert = PATH` to a CA bundle for verify-full",
                channel="stanza",
            )
        return Token(value=value, user=svc.user, expires_at=expires, source=c.source)

    def stanza_overrides(self, svc: Service) -> dict[str, str]:
        """verify-full against the system CAs on libpq >= 16, else require (unless sslrootcert is set)."""
        if svc.sslrootcert is not None:
            return {}
        if _system_rootcert_ok(svc):
            return {"sslrootcert": "system"}
        return {"sslmode": "require"}


PROVIDER = DsqlProvider()
