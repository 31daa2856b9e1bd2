"""Pure decoding of what a presigned token says about itself (no botocore, no network)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl


@dataclass(frozen=True)
class TokenInfo:
    host: str  # host[:port] the token was signed for
    action: str
    user: str | None
    access_key: str
    signed_at: datetime
    expires_at: datetime
    has_session_token: bool


def decode(token: str) -> TokenInfo | None:
    """Parse a SigV4 presigned token; None when it is not one (e.g. a Redshift password)."""
    netloc, sep, query = token.partition("/?")
    if not sep or not netloc:
        return None
    params = dict(parse_qsl(query, keep_blank_values=True))
    try:
        signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        lifetime = int(params["X-Amz-Expires"])
        credential = params["X-Amz-Credential"]
        action = params["Action"]
    except (KeyError, ValueError):
        return None
    return TokenInfo(
        host=netloc,
        action=action,
        user=params.get("DBUser"),
        access_key=credential.split("/", 1)[0],
        signed_at=signed_at,
        expires_at=signed_at + timedelta(seconds=lifetime),
        has_session_token="X-Amz-Security-Token" in params,
    )


def iso(t: datetime) -> str:
    """UTC ISO-8601 with a Z, to the second."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime | None:
    """Inverse of iso(); None for anything else."""
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
