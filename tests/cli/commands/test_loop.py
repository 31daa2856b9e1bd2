"""`pgiam refresh --every DURATION` through the real CLI process: passes, failures, signals.

The loop's clock is sped up 30x with libfaketime (a 1m interval passes in ~2 s of real time); the
signals are real.
"""

from __future__ import annotations

import glob
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Cli

HOST = "db{i}.abcdefghijkl.eu-west-1.rds.amazonaws.com"
LIBFAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1") + glob.glob("/usr/lib/faketime/libfaketime.so*"))
needs_faketime = pytest.mark.skipif(not LIBFAKETIME, reason="libfaketime (package faketime) is not installed")


def write_config(home: Path, extra: str = "") -> None:
    cfg = home / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(f'[services.good]\nhost = "{HOST.format(i=0)}"\nuser = "app"\n\n{extra}')


class Loop:
    def __init__(self, cli: Cli, tmp_path: Path, *args: str) -> None:
        self.out_path, self.err_path = tmp_path / "loop.out", tmp_path / "loop.err"
        env = cli.environ({"LD_PRELOAD": LIBFAKETIME[0], "FAKETIME": "+0 x30"} if LIBFAKETIME else {})
        self.proc = subprocess.Popen([sys.executable, "-m", "pgiam", "refresh", "--every", *args],
                                     stdout=self.out_path.open("wb"), stderr=self.err_path.open("wb"),
                                     env=env, cwd=str(cli.home))

    @property
    def out(self) -> str:
        return self.out_path.read_text()

    @property
    def err(self) -> str:
        return self.err_path.read_text()

    def wait_for(self, what: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not what():
            assert self.proc.poll() is None, f"the loop ended: {self.proc.returncode} {self.err}"
            assert time.monotonic() < deadline, f"timed out: out={self.out!r} err={self.err!r}"
            time.sleep(0.05)

    def stop(self, sig: int) -> tuple[int, float]:
        t = time.monotonic()
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=20)
        return code, time.monotonic() - t

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@needs_faketime
def test_refreshes_at_once_then_every_interval_and_survives_failures(
    cli: Cli, isolated_env: Path, tmp_path: Path
) -> None:
    home = isolated_env
    write_config(home, f'[services.broken]\nhost = "{HOST.format(i=1)}"\nuser = "app"\nprofile = "no-such-profile"\n')
    cli.static_keys()
    loop = Loop(cli, tmp_path, "1m")
    try:
        loop.wait_for(lambda: "good: refreshed" in loop.out and "broken" in loop.err)
        assert loop.out.count("\n") == 1  # one line per change ...
        assert loop.err.count("pgiam: error: broken:") == 1  # ... and per failure
        # the next pass (1m of the loop's clock later): the fresh token is left alone, the failure repeats
        loop.wait_for(lambda: loop.err.count("pgiam: error: broken:") == 2)
        assert loop.out.count("refreshed") == 1
        # a token that went missing is renewed by a later pass
        (home / ".pgpass").write_text("")
        loop.wait_for(lambda: loop.out.count("good: refreshed") == 2)
        assert (home / ".pgpass").read_text().startswith(HOST.format(i=0) + ":5432:app:app:")
        code, took = loop.stop(signal.SIGTERM)
        assert code == 0 and took < 5, (code, took, loop.err)
        assert "Traceback" not in loop.err
    finally:
        loop.kill()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_exits_zero_promptly_on_a_signal_while_sleeping(
    cli: Cli, isolated_env: Path, tmp_path: Path, sig: int
) -> None:
    write_config(isolated_env)
    cli.static_keys()
    loop = Loop(cli, tmp_path, "5m")
    try:
        loop.wait_for(lambda: "good: refreshed" in loop.out)
        code, took = loop.stop(sig)
        assert code == 0 and took < 5, (code, took, loop.err)
        assert loop.err == ""
    finally:
        loop.kill()


def test_a_broken_config_later_is_reported_and_the_loop_goes_on(
    cli: Cli, isolated_env: Path, tmp_path: Path
) -> None:
    write_config(isolated_env)
    cli.static_keys()
    loop = Loop(cli, tmp_path, "1m")
    try:
        loop.wait_for(lambda: "good: refreshed" in loop.out)
        (isolated_env / ".config" / "pgiam" / "config.toml").write_text("[services.good\n")
        if LIBFAKETIME:
            loop.wait_for(lambda: "invalid TOML" in loop.err)
            assert loop.err.startswith("pgiam: error: ") and "next pass" in loop.err
        code, _ = loop.stop(signal.SIGTERM)
        assert code == 0
    finally:
        loop.kill()


@pytest.mark.parametrize(("every", "message"), [
    ("30s", "at most once a minute"),
    ("20m", "could leave an expired token in place"),
    ("soon", "expected a duration"),
])
def test_the_interval_follows_the_schedule_rule(cli: Cli, isolated_env: Path, every: str, message: str) -> None:
    write_config(isolated_env)
    r = cli("refresh", "--every", every)
    assert r.code == 2 and message in r.err and r.err.count("\n") == 1, r.err
    assert not (isolated_env / ".pgpass").exists()
