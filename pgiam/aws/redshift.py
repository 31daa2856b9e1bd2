"""Amazon Redshift temporary passwords through the real APIs (botocore clients, imported lazily):

* ``kind = "redshift"`` (provisioned): ``GetClusterCredentials`` for a named database user (the
  password is for ``IAM:<user>``, or ``IAMA:<user>`` with ``auto_create``), or
  ``GetClusterCredentialsWithIAM`` when ``user`` is already the identity-mapped name (``IAM:alice``,
  ``IAMR:role``).
* ``kind = "redshift-serverless"``: ``GetCredentials`` for a workgroup; the user is always the
  identity-mapped name.

Unlike RDS/DSQL tokens, these passwords are issued by the service and stay valid until the returned
``Expiration`` whatever happens to the caller's credentials afterwards.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pgiam.aws.rds import resolve_region
from pgiam.config import kinds
from pgiam.config.endpoints import parse_endpoint
from pgiam.errors import ConfigError, PgiamError
from pgiam.providers.base import Token

if TYPE_CHECKING:
    from pgiam.aws.credentials import CredentialCache, Credentials
    from pgiam.config.model import Service



def identity_mapped(user: str) -> bool:
    """True when `user` already is the database name Redshift derives from an IAM identity."""
    return user.startswith(kinds.REDSHIFT_IDENTITY_PREFIXES)


def expected_user(svc: Service) -> str:
    """The database user the password is issued for (pure: no network), which pgpass must carry."""
    if svc.kind not in ("redshift", "redshift-serverless") or identity_mapped(svc.user):
        return svc.user
    if svc.kind == "redshift" and svc.auto_create:
        return f"IAMA:{svc.user}"
    return f"IAM:{svc.user}"


def _first_label(svc: Service, family: str) -> str | None:
    ep = parse_endpoint(svc.sign_host)
    if ep is not None and ep.family == family:
        return svc.sign_host.split(".", 1)[0].lower()
    return None


def cluster_identifier(svc: Service) -> str:
    found = svc.cluster_identifier or _first_label(svc, "redshift")
    if not found:
        raise ConfigError(
            f"service {svc.name!r}: cannot tell the Redshift cluster from host {svc.sign_host!r}; "
            "set `cluster_identifier =`"
        )
    return found


def workgroup(svc: Service) -> str:
    found = svc.workgroup or _first_label(svc, "redshift-serverless")
    if not found:
        raise ConfigError(
            f"service {svc.name!r}: cannot tell the Redshift Serverless workgroup from host "
            f"{svc.sign_host!r}; set `workgroup =`"
        )
    return found


def _client(service: str, svc: Service, creds: CredentialCache, c: Credentials, region: str) -> Any:
    from botocore.config import Config

    return creds.session(svc.profile).create_client(
        service,
        region_name=region,
        aws_access_key_id=c.access_key,
        aws_secret_access_key=c.secret_key,
        aws_session_token=c.session_token,
        config=Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 2}),
    )


def _api_error(e: Exception, svc: Service, operation: str, target: str) -> PgiamError:
    response = getattr(e, "response", None)
    code = ""
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
    text = " ".join(str(e).split())[:300]
    if "NotFound" in code:
        fix = f"check {target} (set `cluster_identifier`/`workgroup` and `region` if the host lacks them)"
    elif "AccessDenied" in code or "UnauthorizedOperation" in code or code == "UnrecognizedClientException":
        prefix = "redshift-serverless" if operation == "GetCredentials" else "redshift"
        fix = f"allow the IAM action {prefix}:{operation} for your identity"
    else:
        fix = "check the region, the endpoint and your network"
    return PgiamError(f"service {svc.name!r}: {operation} for {target} failed: {text} — {fix}")


def _when(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise PgiamError("Redshift returned a password without an expiration time")
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _check_user(svc: Service, got: str) -> str:
    want = expected_user(svc)
    if got != want:
        raise ConfigError(
            f"service {svc.name!r}: Redshift issued the password for user {got!r}, not {want!r}; "
            f'set `user = "{got}"` in the config'
        )
    return got


def _lifetime(svc: Service) -> int:
    return kinds.lifetime(svc.kind, svc.token_lifetime)


class RedshiftProvider:
    """Provisioned clusters."""

    def region(self, svc: Service, creds: CredentialCache) -> str:
        return resolve_region(svc, creds)

    def issue(self, svc: Service, creds: CredentialCache, now: datetime) -> Token:
        region = resolve_region(svc, creds)
        cid = cluster_identifier(svc)
        c = creds.get(svc.profile)
        client = _client("redshift", svc, creds, c, region)
        args: dict[str, Any] = {"ClusterIdentifier": cid, "DurationSeconds": _lifetime(svc)}
        if svc.dbname:
            args["DbName"] = svc.dbname
        if identity_mapped(svc.user):
            operation = "GetClusterCredentialsWithIAM"
            call = client.get_cluster_credentials_with_iam
        else:
            operation = "GetClusterCredentials"
            call = client.get_cluster_credentials
            args.update(DbUser=svc.user, AutoCreate=svc.auto_create)
            if svc.db_groups:
                args["DbGroups"] = list(svc.db_groups)
        try:
            out = call(**args)
        except Exception as e:
            raise _api_error(e, svc, operation, f"cluster {cid!r} in {region}") from None
        user = _check_user(svc, str(out.get("DbUser", "")))
        return Token(
            value=str(out["DbPassword"]), user=user, expires_at=_when(out.get("Expiration")), source=c.source
        )


class ServerlessProvider:
    """Redshift Serverless workgroups."""

    def region(self, svc: Service, creds: CredentialCache) -> str:
        return resolve_region(svc, creds)

    def issue(self, svc: Service, creds: CredentialCache, now: datetime) -> Token:
        region = resolve_region(svc, creds)
        wg = workgroup(svc)
        c = creds.get(svc.profile)
        client = _client("redshift-serverless", svc, creds, c, region)
        args: dict[str, Any] = {"workgroupName": wg, "durationSeconds": _lifetime(svc)}
        if svc.dbname:
            args["dbName"] = svc.dbname
        try:
            out = client.get_credentials(**args)
        except Exception as e:
            raise _api_error(e, svc, "GetCredentials", f"workgroup {wg!r} in {region}") from None
        user = _check_user(svc, str(out.get("dbUser", "")))
        return Token(
            value=str(out["dbPassword"]), user=user, expires_at=_when(out.get("expiration")), source=c.source
        )


PROVIDER = RedshiftProvider()
SERVERLESS = ServerlessProvider()
