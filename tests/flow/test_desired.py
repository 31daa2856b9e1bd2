"""The stanza and pgpass key a service should have: order, dialled port, passfile, JDBC subset."""

from __future__ import annotations

from dataclasses import replace

from pgiam.config.model import Service
from pgiam.flow.desired import pgpass_key, stanza_params
from pgiam.libpq.pgpass import Key
from pgiam.libpq.rules import JDBC_KEYS

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"
FULL = Service(
    name="prod", host=HOST, user="alice", port=5432, dbname="app", region="us-west-2", hostaddr="127.0.0.1",
    local_port=15432, sslmode="verify-full", sslrootcert="/ca.pem",
    libpq=(("application_name", "pgiam"), ("connect_timeout", "5"), ("options", "-c x=y")),
)


def test_full_order() -> None:
    assert stanza_params(FULL, "alice", passfile="/p/pgpass") == [
        ("host", HOST), ("hostaddr", "127.0.0.1"), ("port", "15432"), ("dbname", "app"), ("user", "alice"),
        ("sslmode", "verify-full"), ("sslrootcert", "/ca.pem"), ("passfile", "/p/pgpass"),
        ("application_name", "pgiam"), ("connect_timeout", "5"), ("options", "-c x=y"),
    ]


def test_minimal_has_no_optional_keys() -> None:
    svc = Service(name="p", host=HOST, user="bob", dbname="bob")
    assert stanza_params(svc, "bob", passfile=None) == [
        ("host", HOST), ("port", "5432"), ("dbname", "bob"), ("user", "bob"), ("sslmode", "verify-full"),
    ]


def test_user_argument_wins_over_the_config_user() -> None:
    svc = Service(name="p", host=HOST, user="bob", dbname="dev", kind="redshift")
    assert ("user", "IAM:bob") in stanza_params(svc, "IAM:bob", passfile=None)


def test_provider_overrides() -> None:
    params = dict(stanza_params(FULL, "alice", passfile=None, sslmode="require", sslrootcert="system"))
    assert params["sslmode"] == "require" and params["sslrootcert"] == "system"


def test_jdbc_drops_hostaddr_passfile_and_unknown_extras() -> None:
    params = stanza_params(replace(FULL, jdbc=True), "alice", passfile="/p/pgpass")
    assert params == [
        ("host", HOST), ("port", "15432"), ("dbname", "app"), ("user", "alice"), ("sslmode", "verify-full"),
        ("sslrootcert", "/ca.pem"), ("options", "-c x=y"),
    ]
    assert all(k in JDBC_KEYS for k, _ in params)


def test_pgpass_key_uses_host_and_dialled_port_never_hostaddr() -> None:
    assert pgpass_key(FULL, "alice") == Key(host=HOST, port="15432", dbname="app", user="alice")
    assert pgpass_key(replace(FULL, local_port=None), "IAM:alice") == Key(HOST, "5432", "app", "IAM:alice")
