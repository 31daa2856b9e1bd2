"""Azure Database for PostgreSQL: the password is a Microsoft Entra access token for
https://ossrdbms-aad.database.windows.net, from azure-identity's DefaultAzureCredential (so its standard
selection applies: AZURE_TOKEN_CREDENTIALS, environment, workload identity, managed identity, `az login`).

The database user is the Entra principal or group name exactly as created in the server (spaces allowed).
One token serves every Azure service of a run: it names the signed-in principal, not the database.
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

SCOPE = SCOPES["azure"]
SYSTEM_ROOTCERT_SINCE = (16, 0)  # libpq learned sslrootcert=system in 16
FIX = ("run `az login`, or configure a service principal (AZURE_CLIENT_ID, AZURE_TENANT_ID, "
       "AZURE_CLIENT_SECRET), workload identity or managed identity; AZURE_TOKEN_CREDENTIALS picks one")

# one token per run: keyed by the run's CredentialCache
_RUN: weakref.WeakKeyDictionary[Any, Token | CredentialsError] = weakref.WeakKeyDictionary()


def identity_module() -> Any:
    """azure.identity, or the one-line error that names the extra to install."""
    try:
        import azure.identity
    except ImportError:
        raise CredentialsError(missing_extra_message("azure")) from None
    return azure.identity


def _quiet_logging() -> None:
    import logging

    output.route_logging()
    # pgiam reports each failure once, in one line; the SDK's own warnings would only repeat it
    logging.getLogger("azure").setLevel(logging.ERROR)


def _one_line(e: Exception) -> str:
    """The SDK's (multi-line) message in one line: each credential tried, with the start of its reason."""
    import re

    text = " ".join(str(e).split())
    _, sep, tried = text.partition("Attempted credentials:")
    if not sep:
        return text[:400]
    parts = re.split(r"\s*\b([A-Za-z]+Credential): ", " " + tried)
    attempts = []
    for name, why in zip(parts[1::2], parts[2::2]):
        first = re.split(r"(?<=[.!]) ", why.strip(), maxsplit=1)[0]
        attempts.append(f"{name} ({first[:90].rstrip('.')})")
    return "tried " + "; ".join(attempts)


def fetch() -> Token:
    """A token from DefaultAzureCredential: (value, expiry from the token, which credential served it)."""
    identity = identity_module()
    _quiet_logging()
    try:
        cred = identity.DefaultAzureCredential()
        info = cred.get_token_info(SCOPE) if hasattr(cred, "get_token_info") else cred.get_token(SCOPE)
    except Exception as e:
        raise CredentialsError(
            f"cannot get a Microsoft Entra token: {type(e).__name__}: {_one_line(e)} — {FIX}"
        ) from None
    served = getattr(cred, "_successful_credential", None)
    source = type(served).__name__ if served is not None else "DefaultAzureCredential"
    expires = datetime.fromtimestamp(int(info.expires_on), tz=timezone.utc)
    return Token(value=str(info.token), user="", expires_at=expires, source=source)


def _system_rootcert_ok(svc: Service) -> bool:
    from pgiam.host import libpq_version

    version = libpq_version.detect()
    return not svc.jdbc and version is not None and version >= SYSTEM_ROOTCERT_SINCE


class AzureProvider:
    def region(self, svc: Service, creds: CredentialCache) -> str:
        return svc.region or ""

    def issue(self, svc: Service, creds: CredentialCache, now: datetime) -> Token:
        got = _RUN.get(creds)
        if got is None:
            try:
                got = fetch()
            except CredentialsError as e:
                got = e
            _RUN[creds] = got
        if isinstance(got, PgiamError):
            raise got
        if got.expires_at <= now:
            raise CredentialsError(f"the Microsoft Entra token is already expired ({got.source}); {FIX}")
        if self.stanza_overrides(svc).get("sslmode") == "require":
            output.warn(
                f"{svc.name}: the local libpq is older than 16 or unknown and no system CA bundle was found, so "
                "the stanza uses sslmode=require; set `sslrootcert = PATH` to a bundle with DigiCert Global Root "
                "G2 and Microsoft RSA Root Certificate Authority 2017 for verify-full",
                channel="stanza",
            )
        return Token(value=got.value, user=svc.user, expires_at=got.expires_at, source=got.source)

    def stanza_overrides(self, svc: Service) -> dict[str, str]:
        """verify-full against the system CAs: sslrootcert=system on libpq >= 16, else the OS bundle file."""
        if svc.sslrootcert is not None or svc.sslmode == "require":
            return {}
        if _system_rootcert_ok(svc):
            return {"sslrootcert": "system"}
        from pgiam.host.system_roots import bundle_file

        bundle = bundle_file()
        return {"sslrootcert": bundle} if bundle else {"sslmode": "require"}


PROVIDER = AzureProvider()
