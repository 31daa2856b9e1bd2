"""`pgiam env NAME` and `pgiam exec NAME -- CMD`: a fresh token through the environment, no files."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

from pgiam import atomic
from pgiam.aws.credentials import CredentialCache
from pgiam.errors import PgiamError, UsageError
from pgiam.flow.context import Context
from pgiam.libpq import servicefile
from pgiam.providers import get_provider


def variables(ctx: Context, name: str) -> dict[str, str]:
    """PGSERVICE (and PGSERVICEFILE when not libpq's default) plus PGPASSWORD with a new token."""
    svc = ctx.load_config().select([name])[0]
    data = atomic.read_file(ctx.service_file) or b""
    if servicefile.get(data, name) is None:
        raise PgiamError(
            f"{ctx.service_file} has no [{name}] stanza yet; run `pgiam refresh {name}` once to write it"
        )
    # always sign anew: signing is local, so a handed-out token is never an expired one
    token = get_provider(svc.kind).issue(svc, CredentialCache(timeout=ctx.credential_timeout), ctx.now())
    env = {"PGSERVICE": name}
    from pgiam.config.paths import default_service_file

    if ctx.service_file.absolute() != default_service_file(ctx.platform).absolute():
        env["PGSERVICEFILE"] = str(ctx.service_file.absolute())
    env["PGPASSWORD"] = token.value
    return env


ENV_NOTE = ("in the shell that evals this, PGPASSWORD overrides every pgpass entry: other services fail "
            "there until you run `unset PGPASSWORD PGSERVICE` (`pgiam exec NAME -- CMD` or `pgiam psql NAME` "
            "affect one command only)")


def run_env(ctx: Context, name: str) -> int:
    for k, v in variables(ctx, name).items():
        print(f"export {k}={shlex.quote(v)}", file=ctx.out.stdout)
    ctx.out.warn(ENV_NOTE)  # stderr: `eval "$(pgiam env NAME)"` shows it and does not run it
    return 0


def run_exec(ctx: Context, name: str, command: list[str]) -> int:
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError(f"nothing to run: pgiam exec {name} -- COMMAND [ARG...]")
    env = dict(os.environ)
    env.update(variables(ctx, name))
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        try:
            os.execvpe(command[0], command, env)
        except FileNotFoundError:
            raise PgiamError(f"command not found: {command[0]}", exit_code=127) from None
        except PermissionError:
            raise PgiamError(f"cannot run {command[0]}: permission denied", exit_code=126) from None
    try:  # pragma: no cover - Windows
        return subprocess.call(command, env=env)
    except FileNotFoundError:  # pragma: no cover
        raise PgiamError(f"command not found: {command[0]}", exit_code=127) from None
