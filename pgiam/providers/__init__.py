"""Token providers: one module per engine behind the Provider protocol in base.py."""

from __future__ import annotations

from pgiam.providers.base import Provider


def get_provider(kind: str) -> Provider:
    """The provider for a service kind (imported lazily: only what is used is loaded)."""
    if kind == "rds":
        from pgiam.providers import rds

        return rds.PROVIDER
    if kind == "dsql":
        from pgiam.providers import dsql  # type: ignore[attr-defined,unused-ignore]

        return dsql.PROVIDER  # type: ignore[no-any-return,unused-ignore]
    if kind in ("redshift", "redshift-serverless"):
        from pgiam.providers import redshift  # type: ignore[attr-defined,unused-ignore]

        return redshift.PROVIDER if kind == "redshift" else redshift.SERVERLESS  # type: ignore[no-any-return,unused-ignore]
    raise ValueError(f"unknown kind {kind!r}")
