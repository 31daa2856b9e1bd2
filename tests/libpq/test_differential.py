"""Differential test against the real libpq: odd names in, exactly pgiam's token out at the server.

For generated database and user names full of ``:``, ``\\``, ``*``, spaces and non-ASCII, the public
CLI (`pgiam add`) writes the pgpass entry and the stanza; the real ``psql service=NAME`` must then
connect to the rig as exactly that user and database, and the verifier must have received exactly the
token that is in the pgpass file (compared by SHA-256).

Before each `add`, a decoy line for the same connection is appended, written with the ``:`` inside the
names *unescaped*: libpq matches such a line too (an unescaped ``:`` in a field matches a ``:`` in the
value). pgiam must put its own line before it, or psql would send the decoy password.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pgiam.libpq import pgpass as pgpass_engine
from tests.conftest import Cli
from tests.e2e_helpers import add_args, prepare
from tests.pg.rig import Rig

pytestmark = pytest.mark.pg

ALPHABET = ":\\* ab_9é€中ß"
# up to 12 characters of at most 3 UTF-8 bytes: well under PostgreSQL's 63-byte identifier limit
NAMES = st.text(alphabet=ALPHABET, min_size=1, max_size=12).filter(lambda s: s == s.strip() and s != "*")
DECOY_PASSWORD = "decoy-not-the-token"


def split_fields(line: bytes) -> list[bytes]:
    """An independent reading of one pgpass line: split at unescaped ':', drop the escapes."""
    fields: list[bytes] = []
    cur = bytearray()
    i = 0
    while i < len(line):
        c = line[i : i + 1]
        if c == b"\\" and i + 1 < len(line):
            cur += line[i + 1 : i + 2]
            i += 2
            continue
        if c == b":" and len(fields) < 4:
            fields.append(bytes(cur))
            cur = bytearray()
        else:
            cur += c
        i += 1
    fields.append(bytes(cur))
    return fields


def token_written(pgpass: Path, key: tuple[str, str, str, str]) -> str:
    want = [k.encode() for k in key]
    found = [f[4] for f in (split_fields(raw) for raw in pgpass.read_bytes().splitlines())
             if len(f) == 5 and f[:4] == want and b"X-Amz-Signature=" in f[4]]
    assert len(found) == 1, f"expected one pgiam entry for {key!r}, found {len(found)}"
    return found[0].decode()


def decoy_line(key: tuple[str, str, str, str]) -> bytes:
    """The key's fields with '\\' escaped but ':' left bare: libpq still matches it for that key."""
    return (":".join(v.replace("\\", "\\\\") for v in key) + ":" + DECOY_PASSWORD + "\n").encode()


def psql_utf8(rig: Rig, home: Path, service: str, sql: str) -> subprocess.CompletedProcess[str]:
    child = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    child.update(HOME=str(home), PGCLIENTENCODING="UTF8", PGCONNECT_TIMEOUT="10")
    return subprocess.run(
        [rig.psql_path, "-X", "-A", "-t", "-F", "\x1f", "-v", "ON_ERROR_STOP=1", "-d", f"service={service}",
         "-c", sql],
        capture_output=True, text=True, encoding="utf-8", env=child, timeout=60, stdin=subprocess.DEVNULL,
        check=False,
    )


def test_generated_names_reach_the_server_with_exactly_pgiams_token(
    rig: Rig, cli: Cli, isolated_env: Path
) -> None:
    home = isolated_env
    pgpass = home / ".pgpass"
    prepare(rig, cli)
    pgpass.write_bytes(b"# foreign line kept by pgiam\n*:*:postgres:*:other-password\n")
    pgpass.chmod(0o600)
    counter = itertools.count(1)
    tried: list[tuple[str, str]] = []

    @settings(max_examples=12, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(dbname=NAMES, user=NAMES)
    @example(dbname="sales:eu\\2024", user="app:ro\\x")
    @example(dbname="d b:é*\\", user="*:u é\\:")
    @example(dbname="::", user="\\\\")
    def check(dbname: str, user: str) -> None:
        name = f"svc{next(counter)}"
        tried.append((dbname, user))
        rig.create_role(user)
        rig.create_database(dbname, owner=user)
        key = (rig.host, str(rig.port), dbname, user)
        with open(pgpass, "ab") as fh:
            fh.write(decoy_line(key))
        # a decoy that spells the key exactly is the user's line for that connection: taken only by force
        first = pgpass_engine.find(pgpass.read_bytes(), pgpass_engine.Key(*key))
        literal = first is not None and first[1] == DECOY_PASSWORD  # (not when pgiam's line comes first)
        if literal:
            r = cli(*add_args(rig, name, user, dbname))
            assert r.code == 2 and "--force" in r.err, r.err
        r = cli(*add_args(rig, name, user, dbname), *(["--force"] if literal else []))
        assert r.code == 0, r.err
        token = token_written(pgpass, key)
        before = len(rig.verifier_events())
        p = psql_utf8(rig, home, name, "select current_user, current_database()")
        assert p.returncode == 0, p.stderr
        assert p.stdout.rstrip("\n").split("\x1f") == [user, dbname]
        events = rig.verifier_events()[before:]
        assert [e.accepted for e in events] == [True], [e.reason for e in events]
        assert events[0].role == user
        assert events[0].password_sha256 == hashlib.sha256(token.encode()).hexdigest()
        if not literal:
            assert DECOY_PASSWORD.encode() in pgpass.read_bytes()  # the decoy stays; pgiam's line precedes it

    check()
    assert any(":" in d and "\\" in d for d, _ in tried) and any(":" in u and "\\" in u for _, u in tried)
    assert len(tried) >= 15
