"""Token providers: one module per engine behind the Provider protocol in base.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgiam.providers.base import Provider

if TYPE_CHECKING:
    from pgiam.config.model import Service

# kinds whose provider adjusts the stanza (sslmode/sslrootcert); others are not imported for it,
# which keeps signing code off the no-op refresh path
_ADJUSTS_STANZA = frozenset({"dsql", "azure"})


def stanza_overrides(svc: Service) -> dict[str, str]:
    """What the service's provider changes in its stanza (e.g. DSQL's sslrootcert=system)."""
    if svc.kind not in _ADJUSTS_STANZA:
        return {}
    overrides = getattr(get_provider(svc.kind), "stanza_overrides", None)
    return dict(overrides(svc)) if overrides else {}


def get_provider(kind: str) -> Provider:
    """The provider for a service kind (imported lazily: only what is used is loaded)."""
    if kind == "rds":
        from pgiam.aws import rds

        return rds.PROVIDER
    if kind == "dsql":
        from pgiam.aws import dsql  # type: ignore[attr-defined,unused-ignore]

        return dsql.PROVIDER  # type: ignore[no-any-return,unused-ignore]
    if kind in ("redshift", "redshift-serverless"):
        from pgiam.aws import redshift  # type: ignore[attr-defined,unused-ignore]

        return redshift.PROVIDER if kind == "redshift" else redshift.SERVERLESS  # type: ignore[no-any-return,unused-ignore]
    if kind == "azure":
        from pgiam.azure import entra

        return entra.PROVIDER
    if kind in ("cloudsql", "alloydb"):
        from pgiam.gcp import oauth

        return oauth.CLOUDSQL if kind == "cloudsql" else oauth.ALLOYDB
    raise ValueError(f"unknown kind {kind!r}")
