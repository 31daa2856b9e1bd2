"""Concurrent `add`, `remove` and `refresh`: whatever the interleaving, the files end as the reconcile
of the final config: no resurrected or orphaned entry or stanza, no foreign line changed.

Each round forks three real `pgiam` runs (the CLI's main() in a child process, so no interpreter
start-up per run) with random small write delays, then checks the files against the config.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

from pgiam.cli.main import main
from pgiam.config.model import load
from pgiam.flow.desired import pgpass_key
from pgiam.libpq import bulk, pgpass, servicefile
from tests.conftest import TEST_KEY_ID, TEST_SECRET

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"
ROUNDS = 100
NAMES = ["s0", "s1", "s2", "s3"]
FOREIGN_PGPASS = b"# my passwords\nother.example.com:5432:app:bob:s3cr\\:et\r\nzzz:1:a:b:c\n"
FOREIGN_SERVICES = b"# mine\n[legacy]\nhost=legacy.example.com\n"


def _run(argv: list[str], delay: float) -> int:
    """Fork a child that runs pgiam's main(argv); return its pid."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 70
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            os.environ["PGIAM_TEST_WRITE_DELAY"] = f"{delay:.3f}"
            code = main(argv)
        finally:
            os._exit(code)
    return pid


def _op(rng: random.Random) -> list[str]:
    name = rng.choice(NAMES)
    kind = rng.randrange(5)
    if kind == 0:
        return ["add", name, "--host", HOST, "--user", name, "--set", f"application_name=a{rng.randrange(3)}"]
    if kind == 1:
        return ["add", name, "--host", HOST, "--user", "shared", "--dbname", "app", "--replace"]
    if kind == 2:
        return ["remove", name]
    return ["refresh", "--force"] if kind == 3 else ["refresh"]


def _check(home: Path) -> tuple[int, int, int]:
    """(resurrected or orphaned lines, wrong stanzas, foreign lines changed) against the final config."""
    cfg = load(home / ".config" / "pgiam" / "config.toml")
    data = (home / ".pgpass").read_bytes() if (home / ".pgpass").exists() else b""
    sdata = (home / ".pg_service.conf").read_bytes() if (home / ".pg_service.conf").exists() else b""
    want_keys = {pgpass_key(s) for s in cfg.services.values()}
    ours = [ln for ln in pgpass.parse(data) if ln.raw.startswith(HOST.encode())]
    have = [pgpass.Key(*(f.decode() for f in (ln.fields or ())[:4])) for ln in ours]
    bad_lines = len(set(have) ^ want_keys) + (len(have) - len(set(have)))
    index = bulk.PgpassIndex(data)
    bad_lines += sum(1 for k in want_keys if index.chosen(k) is None)
    managed = {sec.name.decode() for sec in servicefile.parse(sdata).sections
               if sec.name is not None and servicefile.is_managed(sdata, sec.name.decode())}
    bad_stanzas = len(managed ^ set(cfg.services))
    foreign = int(not (data.startswith(FOREIGN_PGPASS) or FOREIGN_PGPASS in data)
                  or FOREIGN_SERVICES not in sdata)
    return bad_lines, bad_stanzas, foreign


@pytest.mark.slow
def test_random_interleavings_end_as_the_reconcile_of_the_final_config(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("needs fork")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_SECRET)
    monkeypatch.setenv("PGIAM_LIBPQ_VERSION", "16.4")
    home = isolated_env
    (home / ".pgpass").write_bytes(FOREIGN_PGPASS)
    (home / ".pgpass").chmod(0o600)
    (home / ".pg_service.conf").write_bytes(FOREIGN_SERVICES)
    rng = random.Random(20261129)
    totals = [0, 0, 0]
    codes: dict[int, int] = {}
    for _ in range(ROUNDS):
        pids = [_run(_op(rng), rng.choice([0.0, 0.0, 0.003])) for _ in range(3)]
        for pid in pids:
            _, status = os.waitpid(pid, 0)
            code = os.waitstatus_to_exitcode(status) if sys.version_info >= (3, 9) else status >> 8
            codes[code] = codes.get(code, 0) + 1
        for i, n in enumerate(_check(home)):
            totals[i] += n
        # a later run finds nothing to repair: what the three left is already the reconcile
        before = ((home / ".pgpass").read_bytes(), (home / ".pg_service.conf").read_bytes())
        _, status = os.waitpid(_run(["refresh"], 0.0), 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert ((home / ".pgpass").read_bytes(), (home / ".pg_service.conf").read_bytes()) == before
    print(f"\n{ROUNDS} rounds x 3 concurrent runs, exit codes {sorted(codes.items())}: "
          f"{totals[0]} resurrected or orphaned lines, {totals[1]} wrong stanzas, {totals[2]} foreign changes")
    assert totals == [0, 0, 0]
    assert codes.get(70) is None  # no child crashed
