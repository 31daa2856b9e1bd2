"""Shared set-up for the end-to-end tests: a service pointed at the rig through the real CLI."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import TEST_KEY_ID, TEST_SECRET, Cli
from tests.pg.rig import Rig


def add_args(rig: Rig, name: str, user: str, dbname: str = "postgres", *extra: str) -> list[str]:
    return [
        "add", name, "--host", rig.host, "--port", str(rig.signed_port), "--user", user,
        "--dbname", dbname, "--hostaddr", rig.hostaddr, "--local-port", str(rig.port),
        "--sslrootcert", rig.ca_file, *extra,
    ]


def prepare(rig: Rig, cli: Cli, user: str = "jane_doe", dbname: str = "postgres") -> None:
    rig.create_role(user)
    if dbname != "postgres":
        rig.create_database(dbname, owner=user)
    rig.register_credentials(TEST_KEY_ID, TEST_SECRET)
    cli.static_keys()


def psql_service(rig: Rig, home: Path, service: str, sql: str = "select current_user",
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real psql with only `service=NAME`: it must find ~/.pgpass and ~/.pg_service.conf itself."""
    child = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    child.update(HOME=str(home), PGCLIENTENCODING="UTF8", PGCONNECT_TIMEOUT="10")
    child.update(env or {})
    return subprocess.run(
        [rig.psql_path, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", f"service={service}", "-c", sql],
        capture_output=True, text=True, env=child, timeout=60, stdin=subprocess.DEVNULL, check=False,
    )
