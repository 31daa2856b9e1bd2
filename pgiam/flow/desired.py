"""Pure: the pg_service.conf stanza and the pgpass key that a service should have."""

from __future__ import annotations

from pgiam.config.model import Service
from pgiam.libpq.pgpass import Key

# keys pgjdbc (42.3+) accepts in a service stanza; any other key makes it fail
JDBC_KEYS = frozenset(
    {"host", "port", "dbname", "user", "password", "sslmode", "sslcert", "sslkey", "sslrootcert",
     "sslpassword", "options"}
)


def pgpass_key(svc: Service, user: str) -> Key:
    """The pgpass match fields libpq will use: host (never hostaddr) and the dialled port."""
    return Key(host=svc.host, port=str(svc.dial_port), dbname=svc.dbname, user=user)


def stanza_params(
    svc: Service, user: str, *, passfile: str | None, sslmode: str | None = None,
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
        ("user", user),
        ("sslmode", sslmode or svc.sslmode),
    ]
    root = sslrootcert or svc.sslrootcert
    if root:
        params.append(("sslrootcert", root))
    if passfile and not svc.jdbc:
        params.append(("passfile", passfile))
    extras = [(k, v) for k, v in svc.libpq if not svc.jdbc or k in JDBC_KEYS]
    return params + extras
