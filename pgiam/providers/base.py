"""The small contract every token provider implements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pgiam.aws.credentials import CredentialCache
    from pgiam.config.model import Service


@dataclass(frozen=True)
class Token:
    """A password for one connection and how long it is good for."""

    value: str
    user: str  # the database user the password is for (Redshift may rename it, e.g. IAM:alice)
    expires_at: datetime  # effective: min(token lifetime, credential expiry)
    source: str  # where the credentials came from, for status


class Provider(Protocol):
    """Issues a token for a service; raises PgiamError with a one-line fix on failure."""

    def issue(self, svc: Service, creds: CredentialCache, now: datetime) -> Token: ...

    def region(self, svc: Service, creds: CredentialCache) -> str: ...
