"""Pure decoding of what a presigned token says about itself (no botocore, no network)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl

# The exact shapes pgiam writes and AWS signs, read without strptime (its first use costs an import
# of _strptime and locale data, on the no-op path); anything else still goes through strptime.
# Each shape: (length, {position: separator}, digit slices for year, month, day, hour, minute, second).
_Shape = tuple[int, dict[int, str], tuple[slice, ...]]
_AMZ_DATE: _Shape = (16, {8: "T", 15: "Z"}, (slice(0, 4), slice(4, 6), slice(6, 8), slice(9, 11),
                                              slice(11, 13), slice(13, 15)))
_ISO: _Shape = (20, {4: "-", 7: "-", 10: "T", 13: ":", 16: ":", 19: "Z"},
                (slice(0, 4), slice(5, 7), slice(8, 10), slice(11, 13), slice(14, 16), slice(17, 19)))


def _parse(text: str, shape: _Shape, fmt: str) -> datetime:
    """``datetime.strptime(text, fmt)`` in UTC; raises ValueError the same way."""
    length, seps, parts = shape
    digits = [text[p] for p in parts] if len(text) == length and text.isascii() else []
    if not digits or any(text[i] != c for i, c in seps.items()) or not all(d.isdigit() for d in digits):
        return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
    y, mo, d, h, mi, sec = (int(g) for g in digits)
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
    region: str = ""  # from the credential scope (AKID/date/REGION/service/aws4_request)


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
        region=[*credential.split("/"), "", "", ""][2],
    )


def iso(t: datetime) -> str:
    """UTC ISO-8601 with a Z, to the second (formatted directly: strftime costs ~5 µs a call, and a
    refresh of 1,000 services makes 2,000 of these)."""
    u = t.astimezone(timezone.utc)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}Z"


def parse_iso(text: str) -> datetime | None:
    """Inverse of iso(); None for anything else."""
    try:
        return _parse(text, _ISO, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
