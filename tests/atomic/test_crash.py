"""SIGKILL `pgiam refresh --force` at random moments: the pgpass file is always the old or the new
version, never torn, and stale temp files never pile up (the next run removes them).

PGIAM_TEST_WRITE_DELAY (atomic.py's test-only hook) slows the temp-file write down so a good share of
the kills land mid-write. Several kill loops run in parallel, each in its own home directory.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pgiam.aws import tokeninfo
from tests.conftest import Cli

if os.name == "nt":  # pragma: no cover
    pytest.skip("POSIX-only: SIGKILL", allow_module_level=True)

LOOPS = 4
KILLS_PER_LOOP = 55  # 220 kills in all
HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"
# ~120 KiB of foreign lines: 30 chunks of 4 KiB, each followed by a delay, so the write takes a while
FOREIGN = b"".join(b"foreign%05d.example.com:5432:db:user:" % i + b"p" * 60 + b"\n" for i in range(1400))
TOKEN_LINE = re.compile(rb"^" + re.escape(HOST.encode()) + rb":5432:postgres:crash:(.*)\n", re.M)
SIGNATURE = re.compile(r"X-Amz-Signature=[0-9a-f]{64}$")


def token_of(data: bytes) -> str:
    found = TOKEN_LINE.findall(data)
    assert len(found) == 1, "expected exactly one pgiam entry"
    token = found[0].decode().replace("\\:", ":").replace("\\\\", "\\")
    assert SIGNATURE.search(token) and tokeninfo.decode(token) is not None, "incomplete token"
    return token


def temps(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if ".pgiam-tmp-" in p.name]


def setup_home(home: Path) -> None:
    home.mkdir()
    cfg = home / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f'[services.crash]\nhost = "{HOST}"\nuser = "crash"\ndbname = "postgres"\n'
                   'sslmode = "require"\n')
    (home / ".pgpass").write_bytes(FOREIGN)
    (home / ".pgpass").chmod(0o600)


def kill_loop(cli: Cli, home: Path, seed: int) -> tuple[int, int, int]:
    """Returns (kills, kills that left a temp file = mid-write, kills after which the file had changed)."""
    rng = random.Random(seed)
    env = cli.environ({"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                       "XDG_STATE_HOME": str(home / ".local" / "state")})
    argv = [sys.executable, "-m", "pgiam", "refresh", "--force"]
    pgpass = home / ".pgpass"
    first = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert first.returncode == 0, first.stderr
    slow = dict(env, PGIAM_TEST_WRITE_DELAY="0.008")
    # How long a whole slowed-down run takes, kept current: every run that ends on its own before
    # its kill moment updates it, so the kill window follows the machine's load in both directions.
    t0 = time.monotonic()
    assert subprocess.run(argv, env=slow, capture_output=True, timeout=60, check=False).returncode == 0
    full = time.monotonic() - t0
    kills = mid = changed = spawned = 0
    while kills < KILLS_PER_LOOP:
        spawned += 1
        assert spawned <= 4 * KILLS_PER_LOOP, f"too few runs could be killed ({kills}/{spawned})"
        old = pgpass.read_bytes()
        old_ino = os.stat(pgpass).st_ino
        old_token = token_of(old)
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, env=slow, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=rng.uniform(full * 0.3, full * 1.1))
        finished = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if finished:
            full = time.monotonic() - t0
            continue  # not a kill: it ran to the end
        kills += 1
        now = pgpass.read_bytes()
        # the old version, or the new one: the same file with only the token replaced (a token signed
        # within the same second is identical; the rename shows in the inode)
        assert now == old.replace(old_token.replace(":", "\\:").encode(),
                                  token_of(now).replace(":", "\\:").encode()), f"torn (seed {seed})"
        changed += os.stat(pgpass).st_ino != old_ino
        assert os.stat(pgpass).st_mode & 0o777 == 0o600
        left = temps(home)
        mid += any(p.name.startswith("..pgpass.pgiam-tmp-") for p in left)
        # never more than one stale temp per target: each run removes the older ones under the lock
        names = [p.parent / p.name.split(".pgiam-tmp-")[0] for p in left]
        assert len(names) == len(set(names)), f"stale temp files pile up: {left} (seed {seed})"
    return kills, mid, changed


@pytest.mark.slow
def test_sigkill_at_random_moments_never_tears_the_file(cli: Cli, tmp_path: Path) -> None:
    cli.static_keys()
    homes = [tmp_path / f"h{i}" for i in range(LOOPS)]
    for h in homes:
        setup_home(h)
    seed = random.randrange(1 << 30)
    with ThreadPoolExecutor(LOOPS) as pool:
        results = list(pool.map(lambda i: kill_loop(cli, homes[i], seed + i), range(LOOPS)))
    kills = sum(r[0] for r in results)
    mid = sum(r[1] for r in results)
    changed = sum(r[2] for r in results)
    print(f"kills survived: {kills}, mid-write: {mid}, completed between kills: {changed} (seed {seed})")
    assert kills >= 200
    assert mid >= 20, (mid, seed)  # the kills really landed inside writes
    # (kills that land after the pgpass rename are rare: the window after it is a few ms; the
    # "new version" outcome is checked by the complete run below)
    for h in homes:
        # a normal run afterwards cleans up every stale temp file and writes a complete new version
        before = (h / ".pgpass").read_bytes()
        r = cli("refresh", "--force", env={"HOME": str(h), "XDG_CONFIG_HOME": str(h / ".config"),
                                           "XDG_STATE_HOME": str(h / ".local" / "state")})
        assert r.code == 0, r.err
        after = (h / ".pgpass").read_bytes()
        assert after.replace(token_of(after).replace(":", "\\:").encode(), b"T") == \
            before.replace(token_of(before).replace(":", "\\:").encode(), b"T")
        assert temps(h) == []
