"""pgiam's SigV4 presigner against botocore's presigner and the independent verifier, in process."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgiam.aws import dsql, rds, sigv4, tokeninfo
from tests.pg.sigv4_check import verify_presigned

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


def botocore_presign(
    host: str,
    port: int | None,
    region: str,
    service: str,
    params: dict[str, str],
    key: str,
    secret: str,
    token: str | None,
    expires: int,
) -> str:
    """botocore's own query presigner with a fixed clock (the same code the aws CLI runs)."""
    from unittest import mock

    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    netloc = host if port is None else f"{host}:{port}"
    req = AWSRequest(method="GET", url=f"https://{netloc}/", params=params)
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        SigV4QueryAuth(Credentials(key, secret, token), service, region, expires=expires).add_auth(req)
    return str(req.url)[len("https://") :]


@pytest.mark.parametrize("token", [None, "sess/tok+en=="])
@pytest.mark.parametrize(
    ("service", "port", "params"),
    [
        ("rds-db", 5432, {"Action": "connect", "DBUser": "alice"}),
        ("dsql", None, {"Action": "DbConnectAdmin"}),
    ],
)
def test_matches_botocore(service: str, port: int | None, params: dict[str, str], token: str | None) -> None:
    host = "db1.abc.us-west-2.rds.amazonaws.com" if port else "abc.dsql.us-west-2.on.aws"
    ours = sigv4.presign(
        host=host,
        port=port,
        region="us-west-2",
        service=service,
        params=tuple(params.items()),
        access_key="AKIDX",
        secret_key="s/e+c",
        session_token=token,
        now=NOW,
        expires=900,
    )
    assert ours == botocore_presign(host, port, "us-west-2", service, params, "AKIDX", "s/e+c", token, 900)


def test_empty_session_token_is_never_signed() -> None:
    tok = rds.sign(
        host="db1.abc.us-west-2.rds.amazonaws.com",
        port=5432,
        region="us-west-2",
        user="u",
        access_key="AKIDX",
        secret_key="s",
        session_token="",
        now=NOW,
    )
    assert "X-Amz-Security-Token" not in tok
    info = tokeninfo.decode(tok)
    assert info is not None and not info.has_session_token


def test_dsql_token_shape_and_independent_verification() -> None:
    tok = dsql.sign(
        host="abc.dsql.us-east-1.on.aws",
        region="us-east-1",
        action="DbConnect",
        access_key="AKIDX",
        secret_key="s",
        session_token="t",
        now=NOW,
        expires=604800,
    )
    assert tok.startswith("abc.dsql.us-east-1.on.aws/?Action=DbConnect&X-Amz-Algorithm=")
    verify_presigned(
        tok,
        service="dsql",
        expected_host="abc.dsql.us-east-1.on.aws",
        action="DbConnect",
        lookup={"AKIDX": ("s", "t")}.get,
        now=NOW,
        region="us-east-1",
        max_expires=604800,
    )
    info = tokeninfo.decode(tok)
    assert info is not None and info.expires_at == NOW + dt.timedelta(days=7) and info.user is None


@settings(max_examples=40, deadline=None)
@given(
    user=st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s),
    token=st.one_of(st.none(), st.text(alphabet="abcXYZ019+/=", min_size=1, max_size=60)),
)
def test_rds_any_user_verifies(user: str, token: str | None) -> None:
    tok = rds.sign(
        host="db1.abc.us-west-2.rds.amazonaws.com",
        port=5432,
        region="us-west-2",
        user=user,
        access_key="AKIDX",
        secret_key="sec",
        session_token=token,
        now=NOW,
    )
    verify_presigned(
        tok,
        service="rds-db",
        expected_host="db1.abc.us-west-2.rds.amazonaws.com:5432",
        action="connect",
        lookup={"AKIDX": ("sec", token)}.get,
        now=NOW,
        region="us-west-2",
        expected_params={"DBUser": user},
    )
