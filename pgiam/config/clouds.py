"""Pure per-kind rules for the databases that are not on AWS: Azure Database for PostgreSQL (Microsoft
Entra ID tokens), Cloud SQL and AlloyDB (Google OAuth access tokens).

No I/O and no cloud SDK here: which kind a host is, which keys a kind takes, what its user name must look
like, its TLS default and which pip extra its provider needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CLOUD_KINDS = ("azure", "cloudsql", "alloydb")
GCP_KINDS = ("cloudsql", "alloydb")

# Azure Database for PostgreSQL flexible (and single) servers: <name>.postgres.database.azure.com
AZURE_SUFFIXES = (".postgres.database.azure.com",)

# pip extra that brings each kind's credential library (pgiam[azure], pgiam[gcp])
EXTRA = {"azure": "azure", "cloudsql": "gcp", "alloydb": "gcp"}
MODULE = {"azure": "azure.identity", "cloudsql": "google.auth", "alloydb": "google.auth"}
LIBRARY = {"azure": "azure-identity", "cloudsql": "google-auth", "alloydb": "google-auth"}

# what the token is requested for
SCOPES = {
    "azure": "https://ossrdbms-aad.database.windows.net/.default",
    "cloudsql": "https://www.googleapis.com/auth/sqlservice.login",
    "alloydb": "https://www.googleapis.com/auth/alloydb.login",
}

LABEL = {"azure": "Azure Database for PostgreSQL", "cloudsql": "Cloud SQL", "alloydb": "AlloyDB"}

SA_SUFFIX = ".gserviceaccount.com"

# keys that only mean something for AWS services
AWS_ONLY_KEYS = ("region", "profile", "signing_host", "token_lifetime", "cluster_identifier", "workgroup",
                 "db_groups", "auto_create")


def infer_kind(host: str) -> str | None:
    """The cloud kind a host name says it is (only Azure names say so); None otherwise."""
    name = host.lower().rstrip(".")
    if any(name.endswith(s) and len(name) > len(s) for s in AZURE_SUFFIXES):
        return "azure"
    return None


def install_hint(kind: str) -> str:
    return f"pip install 'pgiam[{EXTRA[kind]}]'"


def missing_extra_message(kind: str) -> str:
    """The one line printed when the kind's credential library cannot be imported."""
    return (f"{LABEL[kind]} tokens need {LIBRARY[kind]}, which is not installed: {install_hint(kind)} "
            "(in the same environment as pgiam)")


def user_problem(kind: str, user: str) -> str | None:
    """Why a database user name cannot be right for this kind (None when it can)."""
    if kind in GCP_KINDS:
        if user.lower().endswith(SA_SUFFIX):
            short = user[: -len(SA_SUFFIX)]
            return (f"{LABEL[kind]} names a service account's database user without "
                    f"{SA_SUFFIX!r}: use {short!r}, not {user!r}")
        if "@" not in user:
            return (f"{LABEL[kind]} IAM database users are Google account emails (user@example.com) or "
                    f"service accounts without {SA_SUFFIX!r} (sa@project.iam), not {user!r}")
    return None


def tls_defaults(kind: str, values: Mapping[str, Any], sslrootcert: str | None) -> dict[str, str]:
    """TLS settings a kind needs when the config does not set them.

    Azure: verify-full (the provider adds sslrootcert=system, or the OS bundle file, at stanza time).
    Cloud SQL / AlloyDB: the server certificate comes from a per-instance (per-cluster) CA and often does
    not name the host, so verify-ca against that CA when `sslrootcert` is given, else `require`.
    """
    if kind in GCP_KINDS and "sslmode" not in values:
        return {"sslmode": "verify-ca" if sslrootcert else "require"}
    return {}


def finish(
    kind: str, user: str, dbname: str, sslrootcert: str | None, values: Mapping[str, Any]
) -> tuple[dict[str, Any], str | None, str | None]:
    """(changes, offending key, problem) for a cloud service: derived defaults, or the first problem."""
    for key in AWS_ONLY_KEYS:
        if key in values:
            return {}, key, f"only for AWS services, not kind {kind!r}; remove the key"
    problem = user_problem(kind, user)
    if problem is not None:
        return {}, "user", problem
    changes: dict[str, Any] = {"kind": kind}
    if not dbname:
        changes["dbname"] = "postgres"
    changes.update(tls_defaults(kind, values, sslrootcert))
    return changes, None, None
