"""What differs between the engines pgiam signs for: one table, one home for each fact. Pure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str
    port: int  # the endpoint port when the config names none
    lifetime: int  # token lifetime in seconds when the config names none
    min_lifetime: int
    max_lifetime: int
    dbname: str | None  # the database when the config names none (None: the user's name)
    title: str = ""  # how messages name it

    def lifetime_rule(self) -> str:
        """Why a configured token_lifetime is refused."""
        if self.min_lifetime == self.max_lifetime:
            return f"{self.title} tokens always live {self.max_lifetime} s; remove the key"
        if self.min_lifetime == 1:
            return f"{self.title} tokens live at most {self.max_lifetime} s (one week)"
        return f"{self.title} passwords live {self.min_lifetime} to {self.max_lifetime} s"


KINDS: dict[str, Kind] = {
    "rds": Kind("rds", port=5432, lifetime=900, min_lifetime=900, max_lifetime=900, dbname=None, title="RDS"),
    "dsql": Kind("dsql", port=5432, lifetime=900, min_lifetime=1, max_lifetime=604800, dbname="postgres", title="DSQL"),
    "redshift": Kind("redshift", port=5439, lifetime=900, min_lifetime=900, max_lifetime=3600, dbname="dev",
                     title="Redshift"),
    "redshift-serverless": Kind("redshift-serverless", port=5439, lifetime=900, min_lifetime=900,
                                max_lifetime=3600, dbname="dev", title="Redshift"),
    # tokens from the cloud's identity service; their lifetime is read from each token (about an hour)
    "azure": Kind("azure", port=5432, lifetime=3600, min_lifetime=3600, max_lifetime=3600, dbname="postgres",
                  title="Azure Entra ID"),
    "cloudsql": Kind("cloudsql", port=5432, lifetime=3600, min_lifetime=3600, max_lifetime=3600,
                     dbname="postgres", title="Cloud SQL"),
    "alloydb": Kind("alloydb", port=5432, lifetime=3600, min_lifetime=3600, max_lifetime=3600, dbname="postgres",
                    title="AlloyDB"),
}
NAMES = tuple(KINDS)

# database user names Redshift derives from an IAM identity (GetClusterCredentialsWithIAM, Serverless)
REDSHIFT_IDENTITY_PREFIXES = ("IAM:", "IAMR:", "IAMA:")


def lifetime(kind: str, configured: int | None) -> int:
    """How long a token of this kind lives."""
    return configured or KINDS[kind].lifetime
