"""tokeninfo: what a real presigned token says about itself; anything else is None; ISO helpers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgiam.aws import rds, sigv4
from pgiam.aws.tokeninfo import decode, iso, parse_iso
from tests.conftest import TEST_KEY_ID, TEST_SECRET

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def rds_token(session: str | None = None, user: str = "alice", port: int = 5432) -> str:
    return rds.sign(host=HOST, port=port, region="us-west-2", user=user, access_key=TEST_KEY_ID,
                    secret_key=TEST_SECRET, session_token=session, now=NOW)


def test_decode_rds_token() -> None:
    info = decode(rds_token())
    assert info is not None
    assert info.host == f"{HOST}:5432" and info.action == "connect" and info.user == "alice"
    assert info.access_key == TEST_KEY_ID and info.has_session_token is False
    assert info.signed_at == NOW and info.expires_at == NOW + timedelta(seconds=900)


def test_decode_session_token_port_and_unusual_user() -> None:
    info = decode(rds_token(session="IQo/sess+tok==", user="a b&c=d", port=6543))
    assert info is not None
    assert info.has_session_token is True and info.user == "a b&c=d" and info.host == f"{HOST}:6543"


def test_decode_dsql_style_token() -> None:
    host = "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws"
    token = sigv4.presign(host=host, port=None, region="us-east-1", service="dsql",
                          params=(("Action", "DbConnectAdmin"),), access_key=TEST_KEY_ID, secret_key=TEST_SECRET,
                          session_token=None, now=NOW, expires=3600)
    info = decode(token)
    assert info is not None
    assert (info.host, info.action, info.user) == (host, "DbConnectAdmin", None)
    assert info.expires_at == NOW + timedelta(hours=1)


@pytest.mark.parametrize(
    "text",
    [
        "", "hunter2", "a password with /? inside but no query", "/?X-Amz-Date=20260102T030405Z",
        "h:5432/?Action=connect", "h:5432/?Action=connect&X-Amz-Date=20260102T030405Z&X-Amz-Expires=900",
        "h/?Action=c&X-Amz-Date=junk&X-Amz-Expires=900&X-Amz-Credential=K/x",
        "h/?Action=c&X-Amz-Date=20260102T030405Z&X-Amz-Expires=soon&X-Amz-Credential=K/x",
        "h/?Action=c&X-Amz-Date=20261302T030405Z&X-Amz-Expires=900&X-Amz-Credential=K/x",
    ],
)
def test_non_tokens_decode_to_none(text: str) -> None:
    assert decode(text) is None


def test_tampered_fields_are_what_decode_reports() -> None:
    token = rds_token().replace("X-Amz-Expires=900", "X-Amz-Expires=60")
    info = decode(token)
    assert info is not None and info.expires_at == NOW + timedelta(seconds=60)


def test_iso() -> None:
    assert iso(NOW) == "2026-01-02T03:04:05Z"
    plus2 = timezone(timedelta(hours=2))
    assert iso(datetime(2026, 1, 2, 5, 4, 5, 999999, tzinfo=plus2)) == "2026-01-02T03:04:05Z"
    assert parse_iso("2026-01-02T03:04:05Z") == NOW


@pytest.mark.parametrize("text", ["", "2026-01-02", "2026-01-02 03:04:05Z", "2026-01-02T03:04:05",
                                  "2026-02-30T00:00:00Z", "2026-01-02T24:00:00Z", "2026-01-02T03:04:05+00:00",
                                  "garbage"])
def test_parse_iso_rejects(text: str) -> None:
    assert parse_iso(text) is None


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.just(timezone.utc)))
def test_iso_round_trip(t: datetime) -> None:
    whole = t.replace(microsecond=0)
    assert parse_iso(iso(t)) == whole
    assert iso(parse_iso(iso(t)) or NOW) == iso(t)
