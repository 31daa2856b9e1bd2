"""Lines another program appends to ~/.pgpass while `pgiam refresh --force` runs back to back: how many
are lost (issue 11, item 5). Not a test: a measurement, reported in docs/benchmarks.md.

An appender process adds LINES distinct lines to ~/.pgpass (O_APPEND, one write each), spread evenly
over about REFRESHES forced refreshes of SERVICES services; refreshes run back to back until the
appender is done. Afterwards every appended line should be in the file; the missing ones were lost by
a rename that put back what pgiam had read before the append.

    python bench/lost_updates.py [--pythonpath DIR] [--lines 4000] [--refreshes 27] [--services 10] [--gap 1]

--pythonpath runs another pgiam tree (e.g. an export of an older commit) for a before/after figure.
Static throwaway keys, a throwaway HOME, nothing reaches the network.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST = "db{i}.abcdefghijkl.us-east-1.rds.amazonaws.com"

APPENDER = r"""
import os, sys, time
path, n, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
start = time.monotonic()
for i in range(n):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"appender.example.com:5432:db:u:line-%d\n" % i)
    os.close(fd)
    delay = start + (i + 1) * interval - time.monotonic()
    if delay > 0:
        time.sleep(delay)
"""


def env_for(home: Path, pythonpath: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PG", "XDG_", "PGIAM_"))}
    env.update(HOME=str(home), PYTHONPATH=pythonpath, PGIAM_SITE_CONFIG="", AWS_EC2_METADATA_DISABLED="true",
               AWS_ACCESS_KEY_ID="AKIDPGIAMBENCH000001", AWS_SECRET_ACCESS_KEY="pgiam-bench-secret/never+real",
               AWS_CONFIG_FILE=str(home / "no-aws-config"), AWS_SHARED_CREDENTIALS_FILE=str(home / "no-creds"))
    return env


def refresh(env: dict[str, str], home: Path) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pgiam", "refresh", "--force", "--quiet"], env=env, cwd=str(home),
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def measure(pythonpath: str, lines: int, refreshes: int, services: int, gap: float = 0.0
            ) -> tuple[int, int, int, int]:
    """(lines lost, refreshes run, refreshes that rewrote pgpass, lines appended)."""
    with tempfile.TemporaryDirectory(prefix="pgiam-lost-") as d:
        home = Path(d)
        cfg = home / ".config" / "pgiam" / "config.toml"
        cfg.parent.mkdir(parents=True)
        cfg.write_text("".join(f'[services.s{i}]\nhost = "{HOST.format(i=i)}"\nuser = "u{i}"\n'
                               'sslmode = "require"\n\n' for i in range(services)))
        pgpass = home / ".pgpass"
        pgpass.write_bytes(b"# the user's own lines\nother.example.com:5432:app:bob:pw\n")
        pgpass.chmod(0o600)
        env = env_for(home, pythonpath)
        one = min(refresh(env, home) for _ in range(3))
        interval = refreshes * (one + gap) / lines
        app = subprocess.Popen([sys.executable, "-c", APPENDER, str(pgpass), str(lines), str(interval)])
        runs = writes = 0
        while app.poll() is None:
            time.sleep(gap)
            before = pgpass.stat().st_ino
            refresh(env, home)
            runs += 1
            writes += pgpass.stat().st_ino != before  # (tokens signed in the same second are equal: no write)
        assert app.wait() == 0
        data = pgpass.read_bytes()
        present = {ln for ln in data.splitlines() if ln.startswith(b"appender.example.com:")}
        assert b"other.example.com:5432:app:bob:pw" in data
        return lines - len(present), runs, writes, lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pythonpath", default=str(REPO), help="the pgiam tree to run (default: this one)")
    ap.add_argument("--lines", type=int, default=4000)
    ap.add_argument("--refreshes", type=int, default=27)
    ap.add_argument("--services", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=1, help="repeat and report each round")
    ap.add_argument("--gap", type=float, default=0.0, help="seconds between refreshes (1.0: every refresh "
                    "signs new tokens and rewrites pgpass)")
    args = ap.parse_args(argv)
    for _ in range(args.rounds):
        lost, runs, writes, total = measure(args.pythonpath, args.lines, args.refreshes, args.services, args.gap)
        print(f"{args.pythonpath}: lost {lost} of {total} appended lines over {runs} forced refreshes "
              f"({writes} rewrote pgpass, {args.services} services)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
