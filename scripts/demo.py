"""`make demo`: pgiam end to end against a local IAM-checking PostgreSQL, in a sandbox HOME.

Starts the test rig (PostgreSQL with TLS and an IAM token verifier), runs `pgiam add` and
`pgiam refresh` with throwaway credentials, then `psql service=demo`. Leaves nothing running.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.pg.rig import Rig  # noqa: E402

KEY_ID = "AKIDPGIAMDEMO0000001"
SECRET = "demo-secret-not-a-real-key"


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def run(argv: list[str], env: dict[str, str], show: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    print("$ " + " ".join(shlex.quote(a) for a in (show or argv)), flush=True)
    proc = subprocess.run(argv, env=env, text=True, capture_output=True, check=False)
    for line in (proc.stdout + proc.stderr).splitlines():
        print("  " + line)
    if proc.returncode != 0:
        raise SystemExit(f"demo: step failed with exit {proc.returncode}")
    return proc


def on_a_terminal(argv: list[str], env: dict[str, str], show: list[str]) -> None:
    """Run argv with stdout on a pseudo-terminal of 80 columns, so it prints what a person sees (a table)."""
    import pty

    print("$ " + " ".join(shlex.quote(a) for a in show), flush=True)
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL,
                            env={**env, "COLUMNS": "80", "TERM": env.get("TERM", "xterm"),
                                 **({} if sys.stdout.isatty() else {"NO_COLOR": "1"})})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    for line in b"".join(chunks).decode().replace("\r\n", "\n").splitlines():
        print("  " + line)
    if proc.wait() != 0:
        raise SystemExit(f"demo: step failed with exit {proc.returncode}")


def main() -> int:
    sandbox = Path(tempfile.mkdtemp(prefix="pgiam-demo-"))
    home = sandbox / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PG", "XDG_"))}
    env.update(
        HOME=str(home), PYTHONPATH=str(REPO), AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET,
        AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=str(home / ".aws/config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / ".aws/credentials"), PGIAM_SITE_CONFIG="",
    )
    pgiam = [sys.executable, "-m", "pgiam"]
    try:
        step("starting a local PostgreSQL that only accepts valid IAM tokens over verify-full TLS")
        with Rig() as rig:
            rig.create_role("demo_user")
            rig.register_credentials(KEY_ID, SECRET)
            print(f"  endpoint {rig.host}:{rig.signed_port} (dialled at {rig.hostaddr}:{rig.port}, "
                  f"like an SSH tunnel); sandbox HOME={home}")
            step("pgiam add: save the service and write ~/.pgpass + ~/.pg_service.conf")
            add = ["add", "demo", "--host", rig.host, "--port", str(rig.signed_port), "--user", "demo_user",
                   "--dbname", "postgres", "--hostaddr", rig.hostaddr, "--local-port", str(rig.port),
                   "--sslrootcert", rig.ca_file]
            run(pgiam + add, env, ["pgiam", *add])
            step("pgiam refresh: nothing to do while the token is fresh")
            run([*pgiam, "--verbose", "refresh"], env, ["pgiam", "--verbose", "refresh"])
            on_a_terminal([*pgiam, "status"], env, ["pgiam", "status"])
            step("what libpq will read")
            print("  ~/.pg_service.conf:")
            for line in (home / ".pg_service.conf").read_text().splitlines():
                print("    " + line)
            entry = (home / ".pgpass").read_text().strip()
            print(f"  ~/.pgpass (mode {(home / '.pgpass').stat().st_mode & 0o777:04o}): {entry[:70]}… "
                  f"({len(entry)} bytes)")
            step("psql service=demo")
            sql = ("select current_user as role, ssl.version as tls from pg_stat_ssl ssl "
                   "where ssl.pid = pg_backend_pid()")
            psql_env = {k: v for k, v in env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
            run([rig.psql_path, "-X", "service=demo", "-c", sql], psql_env,
                ["psql", "service=demo", "-c", sql])
            step("stopping PostgreSQL")
        print("\ndemo: done; nothing left running")
        return 0
    finally:
        shutil.rmtree(sandbox, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
