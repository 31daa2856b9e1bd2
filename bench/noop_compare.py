"""The no-op `pgiam refresh` of this tree against another tree (e.g. an export of an older commit):
does the stale-temp sweep and the dir-fd path walk (issue 11, items 1 and 6) slow the path that runs
every few minutes for every user? Not a test: a measurement, reported in docs/benchmarks.md.

    python bench/noop_compare.py --base DIR [--runs 60] [--services 10]

Runs alternate between the two trees (so load spikes hit both alike); medians are reported, with the
in-process cost of the pieces the no-op path gained: atomic.sweep() (pending/ missing and empty) and
atomic.read_file() of the three files it reads.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST = "db{i}.abcdefghijkl.us-east-1.rds.amazonaws.com"


def make_home(root: Path, services: int) -> Path:
    home = root / "home"
    cfg = home / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("".join(f'[services.s{i}]\nhost = "{HOST.format(i=i)}"\nuser = "u{i}"\n'
                           'sslmode = "require"\n\n' for i in range(services)))
    return home


def env_for(home: Path, pythonpath: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PG", "XDG_", "PGIAM_"))}
    env.update(HOME=str(home), PYTHONPATH=pythonpath, PGIAM_SITE_CONFIG="", AWS_EC2_METADATA_DISABLED="true",
               AWS_ACCESS_KEY_ID="AKIDPGIAMBENCH000001", AWS_SECRET_ACCESS_KEY="pgiam-bench-secret/never+real",
               AWS_CONFIG_FILE=str(home / "no-aws-config"), AWS_SHARED_CREDENTIALS_FILE=str(home / "no-creds"))
    return env


def run(env: dict[str, str], home: Path, *args: str) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pgiam", *args], env=env, cwd=str(home), check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def in_process(home: Path) -> list[str]:
    """Microseconds per call of the pieces the no-op path runs, in this interpreter."""
    os.environ.update(HOME=str(home))
    for k in [k for k in os.environ if k.startswith(("XDG_", "PGIAM_"))]:
        del os.environ[k]
    sys.path.insert(0, str(REPO))
    from pgiam import atomic

    def per_call(fn: object, n: int = 2000) -> float:
        t = time.perf_counter()
        for _ in range(n):
            fn()  # type: ignore[operator]
        return (time.perf_counter() - t) / n * 1e6

    pending = Path(atomic.private_dir()) / "pending"
    out = []
    if pending.exists():
        out.append(f"atomic.sweep(), pending/ empty: {per_call(atomic.sweep):.1f} µs")
        pending.rmdir()
    out.append(f"atomic.sweep(), pending/ missing: {per_call(atomic.sweep):.1f} µs")
    files = [home / ".pgpass", home / ".pg_service.conf", Path(atomic.private_dir()) / "state.json"]
    out.append(f"atomic.read_file() of pgpass, service file and state: "
               f"{per_call(lambda: [atomic.read_file(f) for f in files], 500):.1f} µs")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="the pgiam tree to compare with")
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--services", type=int, default=10)
    args = ap.parse_args(argv)
    trees = {"base": args.base, "this": str(REPO)}
    with tempfile.TemporaryDirectory(prefix="pgiam-noop-") as d:
        times: dict[str, list[float]] = {k: [] for k in trees}
        homes = {}
        for label, tree in trees.items():
            home = make_home(Path(d) / label, args.services)
            run(env_for(home, tree), home, "refresh", "--quiet")  # fill pgpass: later runs are no-ops
            before = (home / ".pgpass").stat().st_mtime_ns
            homes[label] = (home, before)
        for _ in range(args.runs):
            for label, tree in trees.items():
                home, _ = homes[label]
                times[label].append(run(env_for(home, tree), home, "refresh", "--quiet"))
        for label, (home, before) in homes.items():
            assert (home / ".pgpass").stat().st_mtime_ns == before, f"{label}: the no-op refresh wrote pgpass"
        for label, tree in trees.items():
            ts = times[label]
            print(f"{label} ({tree}): no-op refresh of {args.services} services, median "
                  f"{statistics.median(ts) * 1000:.1f} ms (min {min(ts) * 1000:.1f}, n={len(ts)})")
        ratio = statistics.median(times["this"]) / statistics.median(times["base"])
        print(f"this / base: {ratio:.3f}")
        for line in in_process(homes["this"][0]):
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
