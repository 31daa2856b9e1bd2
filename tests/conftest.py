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
    yield home


@dataclass
class Result:
    code: int
    out: str
    err: str


class Cli:
    """Runs the real `python -m pgiam` in a child process with the test's environment."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env: dict[str, str] = {}

    def static_keys(self, key_id: str = TEST_KEY_ID, secret: str = TEST_SECRET, token: str | None = None) -> None:
        self.env.update(AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret)
        if token is not None:
            self.env["AWS_SESSION_TOKEN"] = token

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env)
        env.update(extra or {})
        env["PYTHONPATH"] = str(REPO)
        return env

    def __call__(self, *args: str, env: dict[str, str] | None = None, input: str | None = None,
                 timeout: float = 60) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "pgiam", *args], capture_output=True, text=True,
            env=self.environ(env), input=input, timeout=timeout, cwd=str(self.home),
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli(isolated_env: Path) -> Cli:
    return Cli(isolated_env)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `root` (real second OS users, created with useradd) run only as root, which CI is;
    elsewhere they are deselected, not skipped: they never count as passed without running."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return
    dropped = [i for i in items if i.get_closest_marker("root") is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if i.get_closest_marker("root") is None]
