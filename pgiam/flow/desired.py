"""What each service needs in the files: its pgpass key, its stanza, and what signs its token.

Mapping a Service to libpq's values is the flow's job (libpq/ takes plain values only). Pure.
"""

from __future__ import annotations

from pgiam.config.model import Service
from pgiam.libpq.pgpass import Key
from pgiam.libpq.rules import JDBC_KEYS


def db_user(svc: Service) -> str:
    """The database user the pgpass entry and stanza carry (Redshift prefixes IAM:/IAMA: users)."""
    if svc.kind.startswith("redshift"):
        from pgiam.aws.redshift import expected_user

        return expected_user(svc)
    return svc.user


def pgpass_key(svc: Service, user: str | None = None) -> Key:
    """The pgpass match fields libpq will use: host (never hostaddr) and the dialled port."""
    return Key(host=svc.host, port=str(svc.dial_port), dbname=svc.dbname, user=db_user(svc) if user is None else user)


def signer(svc: Service) -> str:
    """Everything that decides which token a service's pgpass entry must hold.

    Services that share one pgpass entry (same host, dialled port, dbname and user) must agree on it,
    else one of them would log in with a token signed for the other.
    """
    parts = (
        svc.kind, svc.profile or "", svc.region or "", svc.sign_host, str(svc.port),
        str(svc.token_lifetime or ""), svc.cluster_identifier or "", svc.workgroup or "",
        ",".join(svc.db_groups), "1" if svc.auto_create else "",
    )
    return "|".join(parts)


def stanza_params(
    svc: Service, user: str | None = None, *, passfile: str | None, sslmode: str | None = None,
    sslrootcert: str | None = None,
) -> list[tuple[str, str]]:
    """host, hostaddr, port (dialled), dbname, user, sslmode, sslrootcert, passfile, then extras.

    passfile is given only when the pgpass file is not at libpq's default location.
    Providers may override sslmode/sslrootcert (DSQL on old libpq, for example).
    """
    params: list[tuple[str, str]] = [("host", svc.host)]
    if svc.hostaddr and not svc.jdbc:
        params.append(("hostaddr", svc.hostaddr))
    params += [
        ("port", str(svc.dial_port)),
        ("dbname", svc.dbname),
        ("user", db_user(svc) if user is None else user),
        ("sslmode", sslmode or svc.sslmode),
    ]
    root = sslrootcert or svc.sslrootcert
    if root:
        params.append(("sslrootcert", root))
    if passfile and not svc.jdbc:
        params.append(("passfile", passfile))
    extras = [(k, v) for k, v in svc.libpq if not svc.jdbc or k in JDBC_KEYS]
    return params + extras


def stanza(svc: Service, passfile: str | None, bundle: str | None = None) -> list[tuple[str, str]]:
    """The stanza the service needs: the provider's overrides applied, and the installed CA bundle
    (``pgiam ca install``) as sslrootcert when the service pins none and verifies the server."""
    from pgiam.providers import stanza_overrides

    overrides = stanza_overrides(svc)
    if bundle and not svc.sslrootcert and "sslrootcert" not in overrides and svc.kind == "rds" \
            and svc.sslmode != "require":
        overrides["sslrootcert"] = bundle
    return stanza_params(svc, passfile=passfile, **overrides)
