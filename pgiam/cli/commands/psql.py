"""`pgiam psql NAME [PSQL-ARGS...]`: refresh NAME if it needs it, then exec psql with `service=NAME`.

The token stays in pgpass: psql's argv and environment never hold it (like `tsh db connect`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from pgiam.errors import PgiamError
from pgiam.flow.context import Context


def run(ctx: Context, name: str, psql_args: list[str]) -> int:
    from pgiam.config.paths import default_service_file
    from pgiam.flow import lifecycle

    ctx.load_config().select([name])  # an unknown or invalid service: its error, before anything else
    outcome = lifecycle.reconcile(ctx, names=[name])[0]  # a no-op when the token is fresh
    if outcome.error is not None:
        raise PgiamError(f"{name}: {outcome.error}", exit_code=outcome.error.exit_code)
    if outcome.action is lifecycle.Action.REFRESHED:
        ctx.out.detail(f"{name}: refreshed")
    psql = shutil.which("psql")
    if psql is None:
        raise PgiamError("psql not found on PATH; install the PostgreSQL client (e.g. apt install "
                         "postgresql-client)", exit_code=127)
    args = list(psql_args)
    if args and args[0] == "--":
        args = args[1:]
    env = dict(os.environ)
    if ctx.service_file.absolute() != default_service_file(ctx.platform).absolute():
        env["PGSERVICEFILE"] = str(ctx.service_file.absolute())
    if env.pop("PGPASSWORD", None):
        ctx.out.warn("PGPASSWORD is set; not passed to psql, so it uses the fresh token in pgpass")
    env.pop("PGSERVICE", None)
    argv = [psql, "-d", f"service={name}", *args]
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.execve(psql, argv, env)
    return subprocess.call(argv, env=env)  # pragma: no cover - Windows
