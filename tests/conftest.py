"""Every test runs with HOME, XDG dirs, libpq and AWS settings pointed into its own tmp_path.

No test can read or write the real home, the real ~/.aws, or reach AWS.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest_plugins = ["tests.pg.fixtures"]

REPO = Path(__file__).resolve().parent.parent
TEST_KEY_ID = "AKIDPGIAMTEST0000001"
TEST_SECRET = "pgiam-test-secret-key/never+real"

_CLEARED_PREFIXES = ("AWS_", "PG", "XDG_", "PGIAM_")
# other clouds' credential switches (Azure, Google), cleared too
_CLEARED_CLOUD_PREFIXES = ("AZURE_", "IDENTITY_", "MSI_", "IMDS_", "GOOGLE_", "GCE_", "CLOUDSDK_", "NO_GCE_")


def closed_port() -> int:
    """A loopback TCP port nothing listens on (bound, then released: connecting is refused at once)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    for var in list(os.environ):
        if var.startswith(_CLEARED_PREFIXES):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("PGIAM_SITE_CONFIG", "")  # no /etc/pgiam in tests unless a test sets one
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / ".aws" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / ".aws" / "credentials"))
    monkeypatch.setenv("AWS_STS_REGIONAL_ENDPOINTS", "regional")
    # No credential library may reach a metadata address (169.254.169.254, metadata.google.internal):
    # - botocore: AWS_EC2_METADATA_DISABLED=true (above);
    # - google-auth: NO_GCE_CHECK=true (the library compares with the lowercase word) skips the GCE probe,
    #   and GCE_METADATA_HOST / GCE_METADATA_IP point its metadata client at a closed loopback port anyway;
    # - azure-identity: managed identity (IMDS) is pointed at the same closed loopback port by
    #   AZURE_POD_IDENTITY_AUTHORITY_HOST: its probe is refused and DefaultAzureCredential moves on to the
    #   next credential. (MSI_ENDPOINT would do too, but a refused Cloud Shell endpoint ends the whole chain.)
    # The gcloud and az state live under HOME (isolated above); CLOUDSDK_CONFIG pins gcloud's there too.
    for var in list(os.environ):
        if var.startswith(_CLEARED_CLOUD_PREFIXES):
            monkeypatch.delenv(var, raising=False)
    dead = f"127.0.0.1:{closed_port()}"
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    monkeypatch.setenv("GCE_METADATA_HOST", dead)
    monkeypatch.setenv("GCE_METADATA_IP", dead)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(home / ".config" / "gcloud"))
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", f"http://{dead}")
    yield home


@dataclass
class Result:
    code: int
    out: str
    err: str


# Runs that must be a real process: they replace the process (exec, psql), change its user (--user,
# --all-users), loop until a signal (--every), or need the interpreter started afresh.
_REAL_PROCESS_WORDS = frozenset({"exec", "psql", "--user", "--all-users", "--every"})
_FRESH_INTERPRETER_VARS = ("PYTHONPATH", "AZURE_", "GOOGLE_", "CLOUDSDK_", "PGIAM_FASTPATH")


class Cli:
    """Runs pgiam's command line with the test's environment, in this process (main(argv) with the
    environment, working directory and standard streams swapped in) unless the run needs a real one;
    ``real=True`` forces a child process (`python -m pgiam`)."""

    def __init__(self, home: Path, real: bool = False) -> None:
        self.home = home
        self.env: dict[str, str] = {}
        self.real = real

    def static_keys(self, key_id: str = TEST_KEY_ID, secret: str = TEST_SECRET, token: str | None = None) -> None:
        self.env.update(AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret)
        if token is not None:
            self.env["AWS_SESSION_TOKEN"] = token

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env)
        env.update(extra or {})
        # a test may put a directory first (e.g. a sitecustomize that hides an optional extra)
        first = (extra or {}).get("PYTHONPATH") or self.env.get("PYTHONPATH")
        env["PYTHONPATH"] = f"{first}{os.pathsep}{REPO}" if first else str(REPO)
        return env

    def needs_process(self, args: tuple[str, ...], extra: dict[str, str] | None) -> bool:
        if self.real or any(a in _REAL_PROCESS_WORDS for a in args):
            return True
        given = {**self.env, **(extra or {})}
        return any(k.startswith(_FRESH_INTERPRETER_VARS) for k in given)

    def __call__(self, *args: str, env: dict[str, str] | None = None, input: str | None = None,
                 timeout: float = 60, real: bool = False) -> Result:
        if not (real or input is not None or self.needs_process(args, env)):
            return self._in_process(args, self.environ(env))
        proc = subprocess.run(
            [sys.executable, "-m", "pgiam", *args], capture_output=True, text=True,
            env=self.environ(env), input=input, timeout=timeout, cwd=str(self.home),
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def _in_process(self, args: tuple[str, ...], env: dict[str, str]) -> Result:
        import contextlib
        import io

        from pgiam.cli.main import main
        from pgiam.host import libpq_version

        saved_env, saved_cwd = dict(os.environ), os.getcwd()
        out, err = io.StringIO(), io.StringIO()
        os.environ.clear()
        os.environ.update(env)
        libpq_version.forget()  # what a new process would find on this PATH
        try:
            os.chdir(self.home)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(list(args))
                except SystemExit as e:  # argparse's --help and --version
                    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
        finally:
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)
        return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli(isolated_env: Path) -> Cli:
    return Cli(isolated_env)


# Tests that change or watch the machine itself: real OS users (useradd, userdel, `--all-users`) and
# cron daemons. Under pytest-xdist (`make test` runs a worker per core) they all run in one worker, one
# after the other, so that no worker deletes a user another still uses, no `--all-users` run meets
# another test's users, and no test that needs no cron daemon meets another's.
MACHINE_MODULES = {
    "tests/cli/test_odd_inputs.py", "tests/atomic/test_atomic.py", "tests/atomic/test_locks.py",
    "tests/atomic/test_permissions.py", "tests/atomic/test_root_symlinks.py", "tests/host/test_bastion.py",
    "tests/host/test_privileges.py", "tests/host/test_allusers.py", "tests/cli/commands/test_schedule.py",
    "tests/cli/commands/test_schedule_preflight.py",
}


def pytest_itemcollected(item: pytest.Item) -> None:
    if item.nodeid.split("::")[0] in MACHINE_MODULES:
        item.add_marker(pytest.mark.xdist_group("machine"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `root` (real second OS users, created with useradd) run only as root, which CI is;
    elsewhere they are deselected, not skipped: they never count as passed without running."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return
    dropped = [i for i in items if i.get_closest_marker("root") is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if i.get_closest_marker("root") is None]

