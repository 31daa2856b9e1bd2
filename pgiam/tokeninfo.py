"""Pure decoding of what a presigned token says about itself (no botocore, no network)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl

# The exact shapes pgiam writes and AWS signs, read without strptime (its first use costs an import
# of _strptime and locale data, on the no-op path); anything else still goes through strptime.
_AMZ_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z")


def _parse(text: str, shape: re.Pattern[str], fmt: str) -> datetime:
    """``datetime.strptime(text, fmt)`` in UTC; raises ValueError the same way."""
    m = shape.fullmatch(text) if text.isascii() else None
    if m is None:
        return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
    y, mo, d, h, mi, sec = (int(g) for g in m.groups())
    if h > 23 or mi > 59 or sec > 59:
        return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)  # its own verdict
    return datetime(y, mo, d, h, mi, sec, tzinfo=timezone.utc)


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
        signed_at = _parse(params["X-Amz-Date"], _AMZ_DATE, "%Y%m%dT%H%M%SZ")
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
        return _parse(text, _ISO, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
