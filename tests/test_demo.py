"""`make demo` needs only the demo's packages and shows pgiam as a person sees it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO


def _packages(profile: str) -> set[str]:
    p = subprocess.run(["bash", str(REPO / "scripts" / "system-deps.sh"), profile], capture_output=True,
                       text=True, env={**os.environ, "PGIAM_DEPS_LIST": "1"}, timeout=60, check=True)
    return set(p.stdout.split())


def test_system_deps_are_split_between_demo_and_test() -> None:
    demo, test = _packages("demo"), _packages("test")
    assert demo == {"postgresql", "postgresql-client", "openssl"}
    assert demo < test
    for pkg in ("zsh", "fish", "mandoc", "default-jre-headless", "faketime", "cron", "systemd"):
        assert pkg in test and pkg not in demo
    r = subprocess.run(["bash", str(REPO / "scripts" / "system-deps.sh"), "nonsense"], capture_output=True,
                       text=True, timeout=60, check=False)
    assert r.returncode == 2 and "usage" in r.stderr


def test_make_demo_installs_only_what_the_demo_needs() -> None:
    make = shutil.which("make")
    assert make
    dry = subprocess.run([make, "-n", "-B", "-C", str(REPO), "demo"], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert "system-deps.sh demo" in dry and "system-deps.sh test" not in dry
    assert "[test]" not in dry and "pip install -q -e ." in dry
    dry_test = subprocess.run([make, "-n", "-B", "-C", str(REPO), "test"], capture_output=True, text=True,
                              timeout=60, check=True).stdout
    assert "system-deps.sh test" in dry_test and "'.[test]'" in dry_test


@pytest.mark.pg
def test_demo_shows_status_as_a_table_and_the_mode_as_0600() -> None:
    p = subprocess.run([sys.executable, str(REPO / "scripts" / "demo.py")], capture_output=True, text=True,
                       timeout=300, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout
    assert "NAME  STATE  LEFT  EXPIRES" in out, out
    assert "\t" not in out and "\033[" not in out
    assert "(mode 0600)" in out and "0o600" not in out
    assert "demo_user | TLSv1.3" in out or "demo_user | TLSv1.2" in out
