"""credentials.env_credentials returns exactly what botocore's default chain returns, or defers to botocore."""

from __future__ import annotations

import pytest

from pgiam.aws.credentials import CredentialCache, env_credentials
from tests.conftest import TEST_KEY_ID, TEST_SECRET

TOKENS = [
    {},
    {"AWS_SESSION_TOKEN": "session-tok"},
    {"AWS_SECURITY_TOKEN": "security-tok"},
    {"AWS_SESSION_TOKEN": "session-tok", "AWS_SECURITY_TOKEN": "security-tok"},
    {"AWS_SESSION_TOKEN": "", "AWS_SECURITY_TOKEN": "security-tok"},
    {"AWS_SESSION_TOKEN": "session-tok", "AWS_SECURITY_TOKEN": ""},
]


@pytest.mark.parametrize("tokens", TOKENS)
def test_same_as_botocore(tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.session

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_SECRET)
    for k, v in tokens.items():
        monkeypatch.setenv(k, v)
    ours = env_credentials(None)
    assert ours is not None
    creds = botocore.session.Session().get_credentials()
    frozen = creds.get_frozen_credentials()
    assert (ours.access_key, ours.secret_key, ours.session_token) == (
        frozen.access_key, frozen.secret_key, frozen.token or None)
    assert ours.source == creds.method and ours.expiry is None
    # and the cache hands out the same thing
    assert CredentialCache().get(None) == ours


@pytest.mark.parametrize("extra", [
    {"AWS_PROFILE": "dev"}, {"AWS_PROFILE": ""}, {"AWS_DEFAULT_PROFILE": "dev"},
    {"AWS_CREDENTIAL_EXPIRATION": "2030-01-01T00:00:00Z"}, {"AWS_SECRET_ACCESS_KEY": ""},
    {"AWS_ACCESS_KEY_ID": ""},
])
def test_defers_to_botocore(extra: dict[str, str]) -> None:
    env = {"AWS_ACCESS_KEY_ID": TEST_KEY_ID, "AWS_SECRET_ACCESS_KEY": TEST_SECRET, **extra}
    assert env_credentials(None, env) is None


def test_an_explicit_profile_is_botocores() -> None:
    env = {"AWS_ACCESS_KEY_ID": TEST_KEY_ID, "AWS_SECRET_ACCESS_KEY": TEST_SECRET}
    assert env_credentials("dev", env) is None
    assert env_credentials(None, env) is not None
