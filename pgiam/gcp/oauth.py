"""Cloud SQL and AlloyDB: the password is a Google OAuth access token with the login scope
(sqlservice.login / alloydb.login), from google-auth's Application Default Credentials (ADC:
GOOGLE_APPLICATION_CREDENTIALS, `gcloud auth application-default login`, the metadata server).

The database user is the account email; a service account's user drops `.gserviceaccount.com`
(sa@project.iam). The config refuses the long form (pgiam/config/clouds.py).
"""

from __future__ import annotations

import weakref
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pgiam import output
from pgiam.config.clouds import SCOPES, missing_extra_message
from pgiam.errors import CredentialsError, PgiamError
from pgiam.providers.base import Token

if TYPE_CHECKING:
    from pgiam.aws.credentials import CredentialCache
    from pgiam.config.model import Service

FIX = ("run `gcloud auth application-default login`, or point GOOGLE_APPLICATION_CREDENTIALS at a "
       "credentials file")

# how google-auth's credential classes are called in status/doctor
_SOURCES = {
    "google.oauth2.credentials": "authorized_user",
    "google.oauth2.service_account": "service_account",
    "google.auth.impersonated_credentials": "impersonated_service_account",
    "google.auth.compute_engine.credentials": "compute_engine",
    "google.auth.identity_pool": "external_account",
    "google.auth.aws": "external_account",
    "google.auth.pluggable": "external_account",
    "google.auth.external_account_authorized_user": "external_account_authorized_user",
}

# one token per scope per run: keyed by the run's CredentialCache
_RUN: weakref.WeakKeyDictionary[Any, dict[str, Token | CredentialsError]] = weakref.WeakKeyDictionary()


def auth_modules(kind: str) -> tuple[Any, Any]:
    """(google.auth, google.auth.transport.requests), or the one-line error naming the extra."""
    try:
        import google.auth
        import google.auth.transport.requests
    except ImportError:
        raise CredentialsError(missing_extra_message(kind)) from None
    return google.auth, google.auth.transport.requests


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())[:400]


def source_of(creds: Any) -> str:
    return _SOURCES.get(type(creds).__module__, type(creds).__name__)


def fetch(kind: str) -> Token:
    auth, transport = auth_modules(kind)
    import logging

    output.route_logging()
    logging.getLogger("google").setLevel(logging.ERROR)
    scope = SCOPES[kind]
    try:
        creds, _ = auth.default(scopes=[scope])
    except Exception as e:
        raise CredentialsError(f"no Google Application Default Credentials: {_one_line(e)} — {FIX}") from None
    try:
        creds.refresh(transport.Request())
    except Exception as e:
        raise CredentialsError(
            f"cannot get a Google access token ({source_of(creds)}): {type(e).__name__}: {_one_line(e)} — {FIX}"
        ) from None
    if not creds.token or creds.expiry is None:
        raise CredentialsError(f"Google returned no access token or no expiry ({source_of(creds)}) — {FIX}")
    expiry = creds.expiry
    if expiry.tzinfo is None:  # google-auth keeps naive UTC
        expiry = expiry.replace(tzinfo=timezone.utc)
    return Token(value=str(creds.token), user="", expires_at=expiry, source=source_of(creds))


class GoogleProvider:
    def __init__(self, kind: str) -> None:
        self.kind = kind

    def region(self, svc: Service, creds: CredentialCache) -> str:
        return svc.region or ""

    def issue(self, svc: Service, creds: CredentialCache, now: datetime) -> Token:
        run = _RUN.setdefault(creds, {})
        got = run.get(self.kind)
        if got is None:
            try:
                got = fetch(self.kind)
            except CredentialsError as e:
                got = e
            run[self.kind] = got
        if isinstance(got, PgiamError):
            raise got
        if got.expires_at <= now:
            raise CredentialsError(f"the Google access token is already expired ({got.source}); {FIX}")
        return Token(value=got.value, user=svc.user, expires_at=got.expires_at, source=got.source)


CLOUDSQL = GoogleProvider("cloudsql")
ALLOYDB = GoogleProvider("alloydb")
