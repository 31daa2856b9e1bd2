"""The contract every token provider keeps (keyring-style): subclass TokenProviderContract (any cloud) or
ProviderContract (AWS: adds region and credential-expiry rules), supply the `svc` fixture (a Service of the
provider's kind with reachable endpoints), the `keys` fixture (working credentials: AWS keys, or a local
stand-in for the cloud's identity endpoint), `source` (what Token.source says for them) and
`accepts(token, svc)` (an independent check that the token is valid), and every test below runs for that
provider. Without `keys`, the isolated environment has no credentials at all."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pgiam.aws.credentials import CredentialCache
from pgiam.config.model import Service
from pgiam.errors import CredentialsError, PgiamError
from pgiam.flow import desired
from pgiam.providers import get_provider
from pgiam.providers.base import Provider, Token
from tests.conftest import TEST_KEY_ID, TEST_SECRET

SESSION = "contract/session+token=="


class TokenProviderContract:
    max_lifetime: int = 900
    source: str = "env"

    def accepts(self, token: Token, svc: Service) -> None:
        raise NotImplementedError

    @pytest.fixture
    def keys(self, monkeypatch: pytest.MonkeyPatch) -> None:
        raise NotImplementedError

    def provider(self, svc: Service) -> Provider:
        return get_provider(svc.kind)

    def now(self) -> datetime:
        return datetime.now(timezone.utc).replace(microsecond=0)

    def test_issues_a_valid_token_for_the_db_user(self, svc: Service, keys: None) -> None:
        now = self.now()
        tok = self.provider(svc).issue(svc, CredentialCache(), now)
        assert tok.value and "\n" not in tok.value
        assert tok.user == desired.db_user(svc)
        assert tok.expires_at.tzinfo is not None
        assert now < tok.expires_at <= now + timedelta(seconds=self.max_lifetime + 5)
        assert TEST_SECRET not in tok.value
        assert tok.source == self.source
        self.accepts(tok, svc)

    def test_missing_credentials_are_a_one_line_error(self, svc: Service) -> None:
        with pytest.raises(CredentialsError) as e:
            self.provider(svc).issue(svc, CredentialCache(), self.now())
        assert "\n" not in str(e.value) and e.value.exit_code == 1

    def test_stanza_overrides_touch_only_tls(self, svc: Service) -> None:
        overrides = getattr(self.provider(svc), "stanza_overrides", None)
        if overrides is not None:
            assert set(overrides(svc)) <= {"sslmode", "sslrootcert"}

    def test_the_stanza_keeps_verifying_the_server(self, svc: Service) -> None:
        """Whatever the provider adjusts, a verify-full service never ends up unverified when a CA is set."""
        from dataclasses import replace

        with_root = replace(svc, sslrootcert="/some/ca.pem")
        overrides = getattr(self.provider(svc), "stanza_overrides", None)
        if overrides is not None and with_root.sslmode != "require":
            assert overrides(with_root).get("sslmode", with_root.sslmode) == with_root.sslmode


class ProviderContract(TokenProviderContract):
    """AWS providers: SigV4 keys from the environment, the region from the host, tokens capped at the
    credentials' expiry."""

    caps_at_credential_expiry: bool = True  # presigned tokens die with the credentials

    @pytest.fixture
    def keys(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_KEY_ID)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_SECRET)
        monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION)

    def test_region_is_the_hosts(self, svc: Service) -> None:
        assert self.provider(svc).region(svc, CredentialCache()) == svc.region

    def test_credential_expiry_caps_the_token(self, svc: Service, keys: None) -> None:
        cache = CredentialCache()
        creds = cache.get(svc.profile)
        soon = self.now() + timedelta(seconds=120)
        cache._creds[svc.profile] = type(creds)(
            creds.access_key, creds.secret_key, creds.session_token, soon, "test", svc.profile
        )
        tok = self.provider(svc).issue(svc, cache, self.now())
        if self.caps_at_credential_expiry:
            assert tok.expires_at == soon
        else:
            assert tok.expires_at > soon

    def test_errors_are_pgiam_errors(self, svc: Service, keys: None) -> None:
        from dataclasses import replace

        bad = replace(svc, region=None, host="db.example.com", signing_host="db.example.com")
        with pytest.raises(PgiamError):
            self.provider(bad).issue(bad, CredentialCache(), self.now())
