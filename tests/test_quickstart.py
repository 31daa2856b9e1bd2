"""README's quick start, verbatim, against the IAM-checking rig: `pgiam ca install`, `pgiam add` and
the real `psql service=prod` (a local CA file stands in for the download, and a loopback forwarder on
127.0.0.2:5432 for the endpoint's address, given to psql as PGHOSTADDR)."""

from __future__ import annotations

import contextlib
import re
import shlex
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, Cli
from tests.e2e_helpers import prepare, psql_service
from tests.pg.rig import Rig


def quick_start() -> list[list[str]]:
    text = (REPO / "README.md").read_text()
    start = text.index("## Quick start")
    m = re.compile(r"```sh\n(.*?)```", re.S).search(text, start)
    assert m
    commands = []
    for line in m.group(1).replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words:
            commands.append(words)
    return commands


def _pipe(a: socket.socket, b: socket.socket) -> None:
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def endpoint(rig: Rig) -> Iterator[str]:
    """127.0.0.2:5432 forwarding to the rig: the address a DNS lookup of the endpoint would give."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.2", 5432))
    srv.listen(8)
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = srv.accept()
            except OSError:
                continue
            upstream = socket.create_connection(("127.0.0.1", rig.port), timeout=10)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield "127.0.0.2"
    stop.set()
    t.join(timeout=5)
    srv.close()


@pytest.mark.pg
def test_the_quick_start_runs_verbatim_and_psql_connects(rig: Rig, cli: Cli, isolated_env: Path,
                                                         endpoint: str) -> None:
    commands = quick_start()
    assert [c[:2] for c in commands] == [["pgiam", "ca"], ["pgiam", "add"], ["psql", "service=prod"]]
    add = commands[1]
    host, user, dbname = (add[add.index(flag) + 1] for flag in ("--host", "--user", "--dbname"))
    assert host == rig.host and rig.signed_port == 5432
    prepare(rig, cli, user, dbname)
    r = cli(*commands[0][1:], "--from", rig.ca_file)  # the download, from a local file
    assert r.code == 0, r.err
    r = cli(*add[1:])
    assert r.code == 0, r.err
    assert "rds-global-bundle.pem" in (isolated_env / ".pg_service.conf").read_text()
    p = psql_service(rig, isolated_env, "prod", "select current_user, current_database()",
                     env={"PGHOSTADDR": endpoint})
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"{user}|{dbname}"
