"""Independent SigV4 presigned-URL checker (and signer) for IAM database auth tokens.

Written from the SigV4 specification with hashlib/hmac only, deliberately NOT using botocore, so that
tests comparing pgiam's tokens against it are comparing two independent implementations.

A token looks like ``HOST[:PORT]/?Action=...&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=
AKID/DATE/REGION/SERVICE/aws4_request&X-Amz-Date=...&X-Amz-Expires=...&X-Amz-SignedHeaders=host
[&X-Amz-Security-Token=...]&X-Amz-Signature=...``.

:func:`verify_presigned` is generic over service and action (``rds-db``/``connect`` for RDS,
``dsql``/``DbConnect`` or ``DbConnectAdmin`` for Aurora DSQL). It raises :class:`TokenRejected` with a
short reason (never containing a secret) or returns a :class:`PresignedInfo`.
"""

from __future__ import annotations

import calendar
import datetime
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable, Optional, Union
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
DEFAULT_SKEW = 300  # seconds a token's X-Amz-Date may lie in the future

# akid -> (secret access key, session token or None); None if the key id is unknown.
Credentials = tuple[str, Optional[str]]
Lookup = Callable[[str], Optional[Credentials]]
Now = Union[float, int, datetime.datetime]

_AMZ_DATE = re.compile(r"\A\d{8}T\d{6}Z\Z")
_SIGNATURE = re.compile(r"\A[0-9a-f]{64}\Z")
_REQUIRED = (
    "Action",
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)


class TokenRejected(Exception):
    """The token is not acceptable; ``reason`` is short and contains no secret."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PresignedInfo:
    """What a verified token said."""

    host: str
    access_key_id: str
    region: str
    service: str
    signed_at: int  # epoch seconds of X-Amz-Date
    expires_in: int
    params: Mapping[str, str]  # decoded query parameters (signature included)

    @property
    def expires_at(self) -> int:
        return self.signed_at + self.expires_in


def _uri_encode(value: str) -> str:
    """RFC 3986 encoding as SigV4 wants it: everything but unreserved characters, UTF-8."""
    return quote(value, safe="-_.~")


def _epoch(now: Now) -> float:
    if isinstance(now, datetime.datetime):
        if now.tzinfo is None:
            now = now.replace(tzinfo=datetime.timezone.utc)
        return now.timestamp()
    return float(now)


def _amz_date(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(int(epoch)))


def _parse_amz_date(value: str) -> int:
    if not _AMZ_DATE.match(value):
        raise TokenRejected("malformed X-Amz-Date")
    try:
        return calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        raise TokenRejected("malformed X-Amz-Date") from None


def canonical_query(params: Mapping[str, str]) -> str:
    """All parameters except the signature, RFC 3986-encoded, sorted by encoded key then value."""
    pairs = sorted((_uri_encode(k), _uri_encode(v)) for k, v in params.items() if k != "X-Amz-Signature")
    return "&".join(f"{k}={v}" for k, v in pairs)


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def compute_signature(
    *, host: str, params: Mapping[str, str], secret: str, amz_date: str, region: str, service: str
) -> str:
    """The hex SigV4 signature of a presigned GET / with only the ``host`` header signed."""
    canonical_request = "\n".join(
        ["GET", "/", canonical_query(params), f"host:{host}\n", "host", EMPTY_SHA256]
    )
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = _signing_key(secret, amz_date[:8], region, service)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def presign(
    *,
    host: str,
    service: str,
    region: str,
    access_key_id: str,
    secret: str,
    session_token: str | None = None,
    params: Mapping[str, str],
    now: Now | None = None,
    expires_in: int = 900,
) -> str:
    """Build a presigned token ``host/?query`` (query in canonical order, signature last).

    Used by tests to make tokens botocore cannot easily make (signed in the past, odd parameters).
    ``params`` are the operation parameters, e.g. ``{"Action": "connect", "DBUser": "alice"}``.
    """
    epoch = time.time() if now is None else _epoch(now)
    amz_date = _amz_date(epoch)
    query: dict[str, str] = dict(params)
    query.update(
        {
            "X-Amz-Algorithm": ALGORITHM,
            "X-Amz-Credential": f"{access_key_id}/{amz_date[:8]}/{region}/{service}/aws4_request",
            "X-Amz-Date": amz_date,
            "X-Amz-Expires": str(expires_in),
            "X-Amz-SignedHeaders": "host",
        }
    )
    if session_token is not None:
        query["X-Amz-Security-Token"] = session_token
    signature = compute_signature(
        host=host, params=query, secret=secret, amz_date=amz_date, region=region, service=service
    )
    return f"{host}/?{canonical_query(query)}&X-Amz-Signature={signature}"


def split_token(token: str) -> tuple[str, dict[str, str]]:
    """Split ``host/?query`` into the host and the decoded parameters (strict: no duplicates)."""
    host, sep, query = token.partition("/?")
    if not sep or not host or not query:
        raise TokenRejected("malformed token: expected HOST/?QUERY")
    if any(c in token for c in " \t\r\n#"):
        raise TokenRejected("malformed token: whitespace or fragment")
    params: dict[str, str] = {}
    for item in query.split("&"):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise TokenRejected("malformed token: query item without key=value")
        try:
            key = unquote(key, errors="strict")
            value = unquote(value, errors="strict")
        except UnicodeDecodeError:
            raise TokenRejected("malformed token: bad percent-encoding") from None
        if key in params:
            raise TokenRejected(f"malformed token: duplicate parameter {key}")
        params[key] = value
    return host, params


def verify_presigned(
    token: str,
    *,
    service: str,
    expected_host: str,
    action: str,
    lookup: Lookup,
    now: Now,
    region: str | None = None,
    expected_params: Mapping[str, str] | None = None,
    max_expires: int = 900,
    skew: int = DEFAULT_SKEW,
) -> PresignedInfo:
    """Accept ``token`` only if every check passes; raise :class:`TokenRejected` otherwise.

    Checks: shape; ``host`` part equals ``expected_host`` (``HOST:PORT`` for RDS, ``HOST`` for DSQL);
    Action; algorithm; credential scope ``DATE/REGION/SERVICE/aws4_request`` with DATE matching
    X-Amz-Date and REGION equal to ``region`` (any region when None); signed headers exactly ``host``;
    1 <= X-Amz-Expires <= ``max_expires``; ``now`` within [date - skew, date + expires];
    ``expected_params`` (e.g. ``{"DBUser": role}``) equal; key id known to ``lookup``; session token
    equal to the registered one (absent when none is registered; an empty one is always rejected);
    signature recomputes.
    """
    host, params = split_token(token)
    if host != expected_host:
        raise TokenRejected(f"wrong host: signed for {host!r}, expected {expected_host!r}")
    missing = [k for k in _REQUIRED if k not in params]
    if missing:
        raise TokenRejected(f"missing parameter {missing[0]}")
    if params["Action"] != action:
        raise TokenRejected(f"wrong Action {params['Action']!r}, expected {action!r}")
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise TokenRejected("wrong X-Amz-Algorithm")
    if params["X-Amz-SignedHeaders"] != "host":
        raise TokenRejected("X-Amz-SignedHeaders must be exactly 'host'")
    signature = params["X-Amz-Signature"]
    if not _SIGNATURE.match(signature):
        raise TokenRejected("malformed X-Amz-Signature")

    parts = params["X-Amz-Credential"].split("/")
    if len(parts) != 5 or not parts[0]:
        raise TokenRejected("malformed X-Amz-Credential")
    akid, date, cred_region, cred_service, terminator = parts
    amz_date = params["X-Amz-Date"]
    signed_at = _parse_amz_date(amz_date)
    if date != amz_date[:8]:
        raise TokenRejected("credential date does not match X-Amz-Date")
    if terminator != "aws4_request":
        raise TokenRejected("credential scope must end in aws4_request")
    if cred_service != service:
        raise TokenRejected(f"wrong service {cred_service!r}, expected {service!r}")
    if region is not None and cred_region != region:
        raise TokenRejected(f"wrong region {cred_region!r}, expected {region!r}")

    expires = params["X-Amz-Expires"]
    if not expires.isdigit() or not 1 <= int(expires) <= max_expires:
        raise TokenRejected(f"X-Amz-Expires must be 1..{max_expires}")
    expires_in = int(expires)
    epoch = _epoch(now)
    if epoch < signed_at - skew:
        raise TokenRejected("token not yet valid (X-Amz-Date in the future)")
    if epoch > signed_at + expires_in:
        raise TokenRejected("token expired")

    for key, want in (expected_params or {}).items():
        got = params.get(key)
        if got != want:
            raise TokenRejected(f"{key} mismatch: token has {got!r}, expected {want!r}")

    creds = lookup(akid)
    if creds is None:
        raise TokenRejected(f"unknown access key id {akid}")
    secret, session_token = creds
    presented = params.get("X-Amz-Security-Token")
    if presented is not None and presented == "":
        raise TokenRejected("empty X-Amz-Security-Token")
    if session_token is None:
        if presented is not None:
            raise TokenRejected("unexpected X-Amz-Security-Token for long-term key")
    elif presented is None:
        raise TokenRejected("missing X-Amz-Security-Token for temporary credentials")
    elif not hmac.compare_digest(presented.encode(), session_token.encode()):
        raise TokenRejected("X-Amz-Security-Token mismatch")

    want_sig = compute_signature(
        host=host, params=params, secret=secret, amz_date=amz_date, region=cred_region, service=service
    )
    if not hmac.compare_digest(want_sig, signature):
        raise TokenRejected("signature does not match")
    return PresignedInfo(
        host=host,
        access_key_id=akid,
        region=cred_region,
        service=service,
        signed_at=signed_at,
        expires_in=expires_in,
        params=dict(params),
    )
