"""`make bench`: pgiam against its yardsticks, side by side on this machine; writes docs/benchmarks.md.

Each comparison alternates the commands run by run (so load spikes hit both alike) and reports
medians, the ratio and peak RSS (from os.wait4 per child). Nothing here reaches the network: static
throwaway keys in the environment, a throwaway HOME, AWS_EC2_METADATA_DISABLED.

    python bench/run.py [--quick] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pgiam.aws import rds  # noqa: E402
from pgiam.libpq import bulk, pgpass  # noqa: E402
from pgiam.libpq.pgpass import Key  # noqa: E402

KEY_ID = "AKIDPGIAMBENCH000001"
SECRET = "pgiam-bench-secret/never+real"
REGION = "us-east-1"
HOST = "db{i}.abcdefghijkl.us-east-1.rds.amazonaws.com"
MIB = 1024 * 1024

# ----------------------------------------------------------------------------- running children


@dataclass
class Sample:
    wall: float  # seconds
    rss: int  # peak resident set, bytes


@dataclass
class Series:
    label: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(s.wall for s in self.samples)

    @property
    def rss(self) -> int:
        return int(statistics.median(s.rss for s in self.samples))


# A small, long-lived process forks every measured child. Linux carries a process's peak RSS across
# exec(), so a child forked straight from this (bigger) bench process would report at least our own
# size; forked from this tiny spawner (python -I -S, ~10 MiB) it reports its own peak. The spawner
# also takes the wall time, from fork to reap.
SPAWNER = r"""
import json, os, sys, time
for line in sys.stdin:
    req = json.loads(line)
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.chdir(req["cwd"])
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            err = os.open(req["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(err, 2)
            if "uid" in req:  # (root only) run as another user: the all-users benchmark
                os.setgroups([])
                os.setgid(req["gid"])
                os.setuid(req["uid"])
            os.execve(req["argv"][0], req["argv"], req["env"])
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t
    sys.stdout.write(json.dumps([wall, usage.ru_maxrss, os.waitstatus_to_exitcode(status)]) + "\n")
    sys.stdout.flush()
"""


class Spawner:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", SPAWNER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        fd, self.err_path = tempfile.mkstemp(prefix="pgiam-bench-err-")
        os.close(fd)

    def run(self, argv: Sequence[str], env: dict[str, str], cwd: Path,
            as_user: tuple[int, int] | None = None, ok: tuple[int, ...] = (0,)) -> Sample:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        req: dict[str, object] = {"argv": list(argv), "env": env, "cwd": str(cwd), "err": self.err_path}
        if as_user is not None:
            req["uid"], req["gid"] = as_user
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        wall, maxrss, code = json.loads(self.proc.stdout.readline())
        if code not in ok:
            tail = Path(self.err_path).read_text(errors="replace")[-800:]
            raise SystemExit(f"bench: {' '.join(argv)} exited {code}: {tail}")
        return Sample(float(wall), int(maxrss) * (1 if sys.platform == "darwin" else 1024))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()
        os.unlink(self.err_path)


_spawner: Spawner | None = None


def run_child(argv: Sequence[str], env: dict[str, str], cwd: Path,
              as_user: tuple[int, int] | None = None, ok: tuple[int, ...] = (0,)) -> Sample:
    """One child: wall time from fork to reap, peak RSS from its rusage."""
    global _spawner
    if _spawner is None:
        _spawner = Spawner()
    return _spawner.run(argv, env, cwd, as_user, ok)


def alternate(cmds: dict[str, Sequence[str]], env: dict[str, str], cwd: Path, n: int,
              before: Callable[[], None] | None = None) -> dict[str, Series]:
    """Run every command n times, interleaved (a b a b ...), after one untimed warm-up each."""
    out = {label: Series(label) for label in cmds}
    for argv in cmds.values():
        if before:
            before()
        run_child(argv, env, cwd)  # warm-up: page cache, bytecode cache
    for _ in range(n):
        for label, argv in cmds.items():
            if before:
                before()
            out[label].samples.append(run_child(argv, env, cwd))
    return out


def in_process(fn: Callable[[], object], repeat: int) -> float:
    """Fastest of repeat calls of fn() (after one warm-up): the least disturbed by other load."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


# ----------------------------------------------------------------------------- fixtures


def base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "PG", "XDG_", "PGIAM_", "PYTHON"))}
    env.update(
        HOME=str(home), PGIAM_SITE_CONFIG="", AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=str(home / ".aws" / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / ".aws" / "credentials"),
        AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET,
        XDG_CONFIG_HOME=str(home / ".config"), XDG_STATE_HOME=str(home / ".local" / "state"),
    )
    # (PYTHONDONTWRITEBYTECODE is dropped on purpose: an installed pgiam runs from compiled bytecode)
    return env


def make_home(root: Path, name: str, services: int) -> Path:
    home = root / name
    (home / ".config" / "pgiam").mkdir(parents=True)
    body = "".join(
        f'[services.s{i}]\nhost = "{HOST.format(i=i)}"\nuser = "app"\ndbname = "app"\n\n'
        for i in range(services)
    )
    (home / ".config" / "pgiam" / "config.toml").write_text(body)
    return home


# pgiam is measured as users run it: installed from a wheel into its own venv (pipx / `pip install .`),
# with precompiled bytecode, not through the development venv's editable install, whose import finder
# costs every Python process there ~10-15 ms at start-up. Its dependencies come from the development
# venv through a .pth line (no download). The aws CLI is still run from the development venv.
USER_VENV = REPO / "build" / "bench-venv"


def user_venv() -> Path:
    """(Re)build USER_VENV from the working tree; returns its python."""
    import sysconfig

    print(f"building {USER_VENV} (non-editable install of this tree)", flush=True)
    wheels = USER_VENV.parent / "bench-wheel"
    shutil.rmtree(wheels, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", "--without-pip", str(USER_VENV)], check=True)
    pip = [sys.executable, "-m", "pip", "-q"]
    build = [*pip, "wheel", "--no-deps", "-w", str(wheels), str(REPO)]
    if subprocess.run(build, capture_output=True).returncode != 0:  # isolated build needs setuptools from PyPI
        subprocess.run([*build, "--no-build-isolation"], check=True, capture_output=True)
    py = USER_VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    subprocess.run([*pip, "--python", str(py), "install", "--no-deps", "--no-index",
                    *map(str, wheels.glob("pgiam-*.whl"))], check=True)
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "_pgiam_bench_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return py


PY = sys.executable  # the interpreter of measured pgiam runs; main() points it at USER_VENV


def tool(name: str) -> list[str]:
    if name == "pgiam":
        return [str(Path(PY).parent / name)]
    here = Path(sys.executable).parent / name
    if here.exists():
        return [str(here)]
    found = shutil.which(name)
    if found:
        return [found]
    if name == "pgiam":
        return [sys.executable, "-m", "pgiam"]
    raise SystemExit(f"bench: `{name}` not found (run `make venv`: awscli is in the test extra)")


def files_of(home: Path) -> list[tuple[bytes, int]]:
    return [((home / f).read_bytes(), (home / f).stat().st_mtime_ns) for f in (".pgpass", ".pg_service.conf")]


BOTO_LOOP = """
import sys, time
t0 = time.perf_counter()
import botocore.session
s = botocore.session.get_session()
c = s.create_client("rds", region_name="{region}")
t1 = time.perf_counter()
for i in range({n}):
    c.generate_db_auth_token("db%d.abcdefghijkl.us-east-1.rds.amazonaws.com" % i, 5432, "app")
t2 = time.perf_counter()
sys.stderr.write("%f %f\\n" % (t1 - t0, t2 - t1))
"""


def raw_hmacs(n: int) -> None:
    """The bare cryptographic work of n tokens with no caching: 4 HMACs to derive the key, one SHA-256
    of the canonical request, one HMAC for the signature."""
    import hashlib
    import hmac

    for i in range(n):
        k = hmac.new(b"AWS4" + SECRET.encode(), b"20250101", hashlib.sha256).digest()
        k = hmac.new(k, REGION.encode(), hashlib.sha256).digest()
        k = hmac.new(k, b"rds-db", hashlib.sha256).digest()
        k = hmac.new(k, b"aws4_request", hashlib.sha256).digest()
        digest = hashlib.sha256(b"GET\n/\nAction=connect&DBUser=app\nhost:db%d:5432\n" % i).hexdigest()
        hmac.new(k, digest.encode(), hashlib.sha256).hexdigest()


def pgiam_signs(n: int) -> None:
    now = datetime.now(timezone.utc)
    for i in range(n):
        rds.sign(host=HOST.format(i=i), port=5432, region=REGION, user="app", access_key=KEY_ID,
                 secret_key=SECRET, session_token=None, now=now)


# ----------------------------------------------------------------------------- benchmarks


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    verdicts: list[tuple[str, str, str, bool]] = field(default_factory=list)  # target, measured, met

    def add(self, *text: str) -> None:
        self.lines.extend(text)

    def target(self, what: str, goal: str, measured: str, met: bool) -> None:
        self.verdicts.append((what, goal, measured, met))
        print(f"  {'MET ' if met else 'MISS'} {what}: {measured} (target {goal})", flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def mib(n: int) -> str:
    return f"{n / MIB:.1f} MiB"


def table(series: dict[str, Series], base: str) -> list[str]:
    ref = series[base].wall
    rows = ["| command | median wall | ratio to " + base + " | peak RSS |", "|---|---:|---:|---:|"]
    for s in series.values():
        rows.append(f"| {s.label} | {ms(s.wall)} | {s.wall / ref:.3f}x | {mib(s.rss)} |")
    return rows


def bench_floor(rep: Report, root: Path, n: int) -> dict[str, Series]:
    home = make_home(root, "floor", 0)
    env = base_env(home)
    py = PY
    cmds = {
        "python -I -S -c pass": [py, "-I", "-S", "-c", "pass"],
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import pgiam.cli.main'": [py, "-c", "import pgiam.cli.main"],
    }
    print("interpreter floor", flush=True)
    return alternate(cmds, env, home, n)


def bench_noop(rep: Report, root: Path, n: int, floor: dict[str, Series]) -> None:
    home = make_home(root, "noop", 10)
    env = base_env(home)
    pg, aws = tool("pgiam"), tool("aws")
    run_child([*pg, "refresh"], env, home)  # writes 10 fresh tokens and stanzas
    before = files_of(home)
    print("no-op refresh (10 fresh services) vs aws rds generate-db-auth-token", flush=True)
    cmds = {
        "pgiam refresh (no-op, 10 services)": [*pg, "refresh"],
        "python -c pass (same interpreter, paired)": [PY, "-c", "pass"],
        "aws rds generate-db-auth-token": [*aws, "rds", "generate-db-auth-token", "--hostname",
                                           HOST.format(i=0), "--port", "5432", "--username", "app",
                                           "--region", REGION],
    }
    run_child([*pg, "refresh"], env, home)  # a full no-op run: records what the next runs compare
    res = alternate(cmds, env, home, n)
    assert files_of(home) == before, "the no-op refresh changed a file"
    full = alternate({"pgiam refresh (no-op, full path: config touched before each run)": [*pg, "refresh"]},
                     env, home, max(3, n // 3), before=lambda: os.utime(home / ".config" / "pgiam" / "config.toml"))
    res.update(full)
    res.update(floor)
    rep.add("## No-op refresh vs one aws CLI token", "",
            "10 services whose tokens in ~/.pgpass are fresh; `pgiam refresh` must only read the config,",
            "the pgpass file, the service file and its state file, and write nothing (checked).", "",
            *table(res, "aws rds generate-db-auth-token"), "")
    ratio = res["pgiam refresh (no-op, 10 services)"].wall / res["aws rds generate-db-auth-token"].wall
    rep.target("no-op refresh / aws CLI token", "<= 0.12x", f"{ratio:.3f}x", ratio <= 0.12)
    floor_ratio = res["pgiam refresh (no-op, 10 services)"].wall / res["python -c pass (same interpreter, paired)"].wall
    rep.target("no-op refresh / python -c pass", "<= 1.5x", f"{floor_ratio:.3f}x", floor_ratio <= 1.5)


def bench_token(rep: Report, root: Path, n: int) -> None:
    home = make_home(root, "token", 0)
    env = base_env(home)
    pg, aws = tool("pgiam"), tool("aws")
    args = ["--hostname", HOST.format(i=0), "--port", "5432", "--username", "app"]
    print("pgiam token vs aws rds generate-db-auth-token", flush=True)
    cmds = {
        "pgiam token": [*pg, "token", *args],
        "aws rds generate-db-auth-token": [*aws, "rds", "generate-db-auth-token", *args, "--region", REGION],
    }
    res = alternate(cmds, env, home, n)
    rep.add("## `pgiam token` vs `aws rds generate-db-auth-token`", "",
            "Static credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, region in the host name.", "",
            *table(res, "aws rds generate-db-auth-token"), "")
    ratio = res["pgiam token"].wall / res["aws rds generate-db-auth-token"].wall
    rep.target("pgiam token / aws CLI token", "<= 0.35x", f"{ratio:.3f}x", ratio <= 0.35)
    rss = res["pgiam token"].rss
    rep.target("pgiam token peak RSS", "<= 45 MiB", mib(rss), rss <= 45 * MIB)


def bench_forced(rep: Report, root: Path, n: int, sizes: Sequence[int]) -> None:
    pg = tool("pgiam")
    walls: dict[int, float] = {}
    rows = ["| services | pgiam refresh --force (whole process) | peak RSS | botocore loop (whole process) "
            "| botocore: import+client / loop | pgiam signing in-process | raw SigV4 HMACs |",
            "|---:|---:|---:|---:|---:|---:|---:|"]
    for size in sizes:
        home = make_home(root, f"force{size}", size)
        env = base_env(home)
        print(f"pgiam refresh --force, {size} services", flush=True)
        run_child([*pg, "refresh"], env, home)  # creates entries and stanzas (untimed)
        script = BOTO_LOOP.format(region=REGION, n=size)
        cmds = {"pgiam": [*pg, "-q", "refresh", "--force"], "botocore": [PY, "-c", script]}
        res = alternate(cmds, env, home, n if size <= 1000 else max(2, n // 2))
        parts = subprocess.run([PY, "-c", script], env=env, capture_output=True, text=True,
                               check=True).stderr.split()
        setup, loop = float(parts[0]), float(parts[1])
        signing = in_process(lambda size=size: pgiam_signs(size), 5)  # type: ignore[misc]
        raw = in_process(lambda size=size: raw_hmacs(size), 5)  # type: ignore[misc]
        p, b = res["pgiam"], res["botocore"]
        walls[size] = p.wall
        rows.append(f"| {size} | {ms(p.wall)} | {mib(p.rss)} | {ms(b.wall)} | {ms(setup)} / {ms(loop)} "
                    f"| {ms(signing)} | {ms(raw)} |")
        if size == 1000:
            rep.target(f"{size}-service forced refresh, wall", "<= 150 ms", ms(p.wall), p.wall <= 0.15)
    small, mid, big = min(sizes), 1000, max(sizes)
    if small < mid < big:
        per_low = (walls[mid] - walls[small]) / (mid - small)
        per_high = (walls[big] - walls[mid]) / (big - mid)
        growth = per_high / per_low
        rows += ["", f"Cost per added service: {per_low * 1e6:.0f} µs from {small} to {mid} services, "
                 f"{per_high * 1e6:.0f} µs from {mid} to {big} (x{growth:.2f}; a quadratic step would show "
                 "~10x)."]
        rep.target(f"forced refresh linear ({small}..{big} services)", "per-service cost flat (<= 2x)",
                   f"x{growth:.2f}", growth <= 2.0)
    rep.add("## Forced refresh of many services sharing one profile", "",
            "`pgiam -q refresh --force`: sign every token anew, rewrite ~/.pgpass once, leave unchanged "
            "stanzas alone, record state. The yardstick is one Python process that imports botocore, builds "
            "an RDS client and calls `generate_db_auth_token` in a loop; \"raw SigV4 HMACs\" is the bare "
            "cryptography of that many tokens (4 HMACs for the key, 1 SHA-256, 1 HMAC), measured "
            "in-process, next to pgiam's own in-process signing (signing key derived once per "
            "secret/date/region/service).",
            "", *rows, "")


def bench_rewrite(rep: Report, root: Path, n: int, sizes: Sequence[int]) -> None:
    pg = tool("pgiam")
    rows = ["| pgpass lines | upsert one entry (in-process, fastest run) | per line "
            "| 1-service `pgiam refresh --force` (whole process) |", "|---:|---:|---:|---:|"]
    per_line: dict[int, float] = {}
    for size in sizes:
        key = Key(HOST.format(i=0), "5432", "app", "app")
        others = [pgpass.format_line(Key(f"other{i}.example.com", "5432", "db", f"user{i}"),
                                     f"secret-{i:08d}") for i in range(size - 1)]
        half = len(others) // 2
        data = b"".join(others[:half]) + pgpass.format_line(key, "old-token") + b"".join(others[half:])
        token = "x" * 1000
        repeat = max(5, 20_000 // size * 5) if size < 100_000 else 5
        t = in_process(lambda d=data, k=key, v=token: pgpass.upsert(d, k, v), repeat)  # type: ignore[misc]
        assert bulk.pgpass_upsert_all(data, [(key, token)]) == pgpass.upsert(data, key, token)
        per_line[size] = t / size
        home = make_home(root, f"rewrite{size}", 1)
        env = base_env(home)
        (home / ".pgpass").write_bytes(data)
        (home / ".pgpass").chmod(0o600)
        print(f"rewrite: {size}-line pgpass", flush=True)
        res = alternate({"pgiam": [*pg, "-q", "refresh", "--force"]}, env, home, n)
        rows.append(f"| {size} | {ms(t)} | {t / size * 1e6:.2f} µs | {ms(res['pgiam'].wall)} |")
    small, big = min(sizes), max(sizes)
    growth = per_line[big] / per_line[small]
    rep.add("## Rewriting one entry as ~/.pgpass grows", "",
            "One pgiam entry in the middle of a file of unrelated entries; `pgpass.upsert` parses every line "
            "once (libpq's matching is emulated for each), so the cost must grow linearly with the file. "
            "The whole-process column adds start-up, locking, the temp file, fsync and rename.", "",
            *rows, "")
    # linear = the per-line cost stays flat while the file grows 100x (a quadratic rewrite would
    # show ~100x); up to 2x is allowed for cache effects on a 100k-line (~10 MB) file
    rep.target(f"rewrite linear in size ({small}..{big} lines)", "per-line cost flat (<= 2x over 100x size)",
               f"per-line cost x{growth:.2f} from {small} to {big} lines", growth <= 2.0)


SYS_VENV = REPO / "build" / "bench-venv-sys"
# other users of this machine with a pgiam config are visited too, and theirs may fail (exit 1)
ANY_USER_MAY_FAIL = (0, 1)


def sys_venv() -> Path | None:
    """A venv on a Python every user can read (the system's /usr/bin/python3), with this tree's wheel:
    the users of the all-users benchmark cannot read a Python under /root."""
    import sysconfig

    base = "/usr/bin/python3"
    ver = f"{sys.version_info[0]}.{sys.version_info[1]}"
    probe = subprocess.run([base, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                           capture_output=True, text=True, check=False) if os.path.exists(base) else None
    if probe is None or probe.stdout.strip() != ver:
        return None  # the dependencies come from the development venv: the minor version must match
    wheels = list((USER_VENV.parent / "bench-wheel").glob("pgiam-*.whl"))
    subprocess.run([base, "-m", "venv", "--clear", "--without-pip", str(SYS_VENV)], check=True)
    py = SYS_VENV / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "-q", "--python", str(py), "install", "--no-deps", "--no-index",
                    *map(str, wheels)], check=True)
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "_pgiam_bench_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return py


def bench_all_users(rep: Report, root: Path, n: int, sizes: Sequence[int]) -> None:
    """`pgiam --all-users refresh --quiet` (root) over N users whose 10 tokens are fresh, paired with one
    of those users' own no-op `pgiam refresh --quiet` (run as that user) and `python -c pass`."""
    title = "## `pgiam --all-users refresh`: a bastion's no-op pass"
    py = sys_venv() if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("newusers") else None
    if py is None:
        rep.add(title, "", "Not measured: needs root, newusers and a system Python of the same minor version.", "")
        return
    import pwd

    pg = [str(py.parent / "pgiam")]
    base = Path(tempfile.mkdtemp(prefix="pgiam-bench-users-", dir="/tmp"))
    base.chmod(0o755)
    names = [f"pgiamx{os.getpid() % 10000:04d}{i:03d}" for i in range(max(sizes))]
    print(f"all users: creating {len(names)} users", flush=True)
    made: list[str] = []
    try:
        subprocess.run(["newusers"], input="".join(f"{nm}:*:::pgiam bench:{base / nm}:/usr/sbin/nologin\n"
                                                   for nm in names), text=True, check=True)
        made = names
        template = make_home(root, "allusers-template", 10)
        run_child([*pg, "refresh"], base_env(template), template)
        files = {rel: (template / rel).read_bytes() for rel in
                 (".pgpass", ".pg_service.conf", ".local/state/pgiam/state.json", ".config/pgiam/config.toml")}
        users = [pwd.getpwnam(nm) for nm in names]
        for u in users:
            for rel, data in files.items():
                dest = Path(u.pw_dir) / (rel + ".off" if rel.endswith("config.toml") else rel)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
                dest.chmod(0o600)
            for dirpath, _dirs, fnames in os.walk(u.pw_dir):
                os.chown(dirpath, u.pw_uid, u.pw_gid)
                for f in fnames:
                    os.chown(os.path.join(dirpath, f), u.pw_uid, u.pw_gid)
        root_env = base_env(root)
        root_env["HOME"] = "/root"
        first = users[0]
        user_env = {"HOME": first.pw_dir, "USER": first.pw_name, "LOGNAME": first.pw_name, "PATH": "/usr/bin:/bin",
                    "PGIAM_SITE_CONFIG": "", "AWS_EC2_METADATA_DISABLED": "true"}
        own = (first.pw_uid, first.pw_gid)
        rows = ["| users | `--all-users refresh` (root) | per user | one user's own no-op refresh | ratio "
                "| python -c pass | peak RSS (all-users) |", "|---:|---:|---:|---:|---:|---:|---:|"]
        enabled = 0
        for size in sorted(sizes):
            for u in users[enabled:size]:
                cfg = Path(u.pw_dir) / ".config/pgiam/config.toml"
                os.rename(str(cfg) + ".off", cfg)
            enabled = size
            print(f"all users: {size}", flush=True)
            allu = [*pg, "--all-users", "refresh", "--quiet"]
            for _ in range(2):  # full no-op passes for the newly enabled users: they record
                run_child(allu, root_env, base, ok=ANY_USER_MAY_FAIL)
                run_child([*pg, "refresh", "--quiet"], user_env, Path(first.pw_dir), own)
            series = {k: Series(k) for k in ("all", "own", "pass")}
            runs = n if size <= 100 else max(3, n // 3)
            for _ in range(runs):
                series["all"].samples.append(run_child(allu, root_env, base, ok=ANY_USER_MAY_FAIL))
                series["own"].samples.append(run_child([*pg, "refresh", "--quiet"], user_env,
                                                       Path(first.pw_dir), own))
                series["pass"].samples.append(run_child([str(py), "-c", "pass"], user_env, Path(first.pw_dir), own))
            a, o, fl = series["all"], series["own"], series["pass"]
            rows.append(f"| {size} | {ms(a.wall)} | {ms(a.wall / size)} | {ms(o.wall)} | {a.wall / o.wall:.2f}x "
                        f"| {ms(fl.wall)} | {mib(a.rss)} |")
            if size == 20:
                ratio = a.wall / o.wall
                rep.target("--all-users no-op over 20 users / one user's own no-op", "<= 3x", f"{ratio:.2f}x",
                           ratio <= 3.0)
        rep.add(title, "",
                "Every user has 10 services with fresh tokens. Root's pass forks one child per user (up to 16 at "
                "a time), which drops privileges as `--user` does and answers from that user's no-op record; "
                "the user's own run is `pgiam refresh --quiet` started as that user. Both use the system "
                f"Python ({py.resolve()}), which the users can read; other users of this machine with a "
                "pgiam config are visited too.", "", *rows, "")
    finally:
        print("all users: removing users", flush=True)
        for nm in made:
            subprocess.run(["userdel", nm], capture_output=True, check=False)
            subprocess.run(["groupdel", nm], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


def import_profile(root: Path) -> list[str]:
    """Top-level imports of a no-op refresh by cumulative time (best of 5 runs, -X importtime)."""
    home = root / "noop"
    env = base_env(home)
    best: dict[str, int] = {}
    order: list[str] = []
    for _ in range(5):
        proc = subprocess.run([PY, "-X", "importtime", "-c",
                               "import sys, pgiam.cli.main; sys.exit(pgiam.cli.main.main(['refresh']))"],
                              env=env, cwd=str(home), capture_output=True, text=True, check=True)
        for line in proc.stderr.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\S.*)$", line)
            if not m:
                continue
            name, cum = m.group(3), int(m.group(2))
            if name not in best:
                order.append(name)
            best[name] = min(best.get(name, cum), cum)
        assert "botocore" not in proc.stderr, "the no-op refresh imported botocore"
    top = sorted(order, key=lambda k: -best[k])[:14]
    total = sum(best.values())
    out = ["| module (top level) | cumulative import time |", "|---|---:|"]
    out += [f"| {name} | {best[name] / 1000:.1f} ms |" for name in top]
    out.append(f"| **all top-level imports** | **{total / 1000:.1f} ms** |")
    return out


# ----------------------------------------------------------------------------- report


def machine() -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    aws = subprocess.run([*tool("aws"), "--version"], capture_output=True, text=True).stdout.strip()
    import botocore

    return [f"- date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
            f"- machine: {platform.platform()}, {cpu}, {os.cpu_count()} CPUs",
            f"- Python {platform.python_version()}; pgiam installed from a wheel into {USER_VENV.relative_to(REPO)} "
            f"(not editable); botocore {botocore.__version__}; "
            f"{aws}"]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs and sizes (a smoke test)")
    ap.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"))
    args = ap.parse_args(argv)
    n = 5 if args.quick else 15
    started = time.perf_counter()
    global PY
    PY = str(user_venv())
    rep = Report()
    with tempfile.TemporaryDirectory(prefix="pgiam-bench-") as tmp:
        root = Path(tmp)
        floor = bench_floor(rep, root, n)
        bench_noop(rep, root, n, floor)
        bench_token(rep, root, n)
        bench_forced(rep, root, 3 if args.quick else 7, (10, 100, 1000) if args.quick else (10, 100, 1000, 10000))
        bench_all_users(rep, root, 3 if args.quick else 9, (1, 20) if args.quick else (1, 20, 100, 500))
        rewrite_sizes = (1000, 10000) if args.quick else (1000, 10000, 100000)
        bench_rewrite(rep, root, 3 if args.quick else 5, rewrite_sizes)
        imports = import_profile(root)
    if _spawner is not None:
        _spawner.close()
    elapsed = time.perf_counter() - started
    text = render(rep, floor, imports, elapsed, args.quick)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(f"wrote {args.out} in {elapsed:.0f} s")
    return 0


def render(rep: Report, floor: dict[str, Series], imports: list[str], elapsed: float, quick: bool) -> str:
    from bench.notes import ANALYSIS

    f_pass = floor["python -c pass"].wall
    f_bare = floor["python -I -S -c pass"].wall
    f_main = floor["python -c 'import pgiam.cli.main'"].wall
    verdicts = ["| target | goal | measured | |", "|---|---|---|---|"]
    verdicts += [f"| {w} | {g} | {m} | {'met' if ok else '**missed**'} |" for w, g, m, ok in rep.verdicts]
    return "\n".join([
        "# pgiam benchmarks",
        "",
        "Regenerated by `make bench` (bench/run.py); do not edit by hand. Every comparison runs the commands "
        "alternately on the same machine in the same run; figures are medians, RSS is the child's peak "
        "resident set (`wait4` rusage).",
        "",
        *machine(),
        f"- bench wall time: {elapsed:.0f} s{' (--quick)' if quick else ''}",
        "",
        "## Targets",
        "",
        *verdicts,
        "",
        *rep.lines,
        "## Where the time goes",
        "",
        f"Interpreter floor on this machine: `python -I -S -c pass` {ms(f_bare)}, `python -c pass` (pgiam's "
        f"install venv, its site and .pth files) {ms(f_pass)}; importing pgiam's command line "
        f"(`import pgiam.cli.main`) {ms(f_main)}.",
        "",
        "Imports of a no-op `pgiam refresh` that takes the full path (the gate cannot answer: `main()` "
        "called directly; `python -X importtime`, best of 5; importtime itself inflates these figures, "
        "compare them with each other):",
        "",
        *imports,
        "",
        ANALYSIS,
        "",
    ])


if __name__ == "__main__":
    sys.exit(main())
