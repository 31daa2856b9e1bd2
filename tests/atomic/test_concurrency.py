"""50 concurrent `pgiam refresh --force` processes over 5 services and 20 foreign pgpass lines.

All 50 are started before any is waited for, so they really overlap and fight over the locks. Each
refreshes one service (10 per service) starting from a pgpass and service file with no pgiam entries,
so a lost update (a writer working from a stale read) would lose another service's entry or stanza.
Afterwards: every process succeeded, exactly one entry per service, the 20 foreign lines byte-identical
and in order, the file parses as libpq reads it, and the real psql connects for every service.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pgiam.libpq import pgpass
from tests.conftest import Cli
from tests.e2e_helpers import prepare, psql_service
from tests.pg.rig import Rig

pytestmark = pytest.mark.pg

PROCESSES = 50
SERVICES = 5
FOREIGN = [
    b"# twenty foreign lines pgiam must not touch\n",
    b"other.example.com:5432:app:bob:s3cr\\:et\n",
    b"other.example.com:5432:app:carol:pw2\r\n",
    b"\n",
    b"10.0.0.1:6432:*:deploy:pw3\n",
    b"latin1-\xe9:5432:*:*:pw4\n",
    b"short:line:only\n",
    b"# another comment\n",
    b"[::1]:5432:db:u:ipv6\n",
    b"h\\:x:5432:db:u:escaped-colon-host\n",
    b"a:1:b:c:d:e:f\n",
    b"localhost:*:*:postgres:local\n",
    b"   leading-space:5432:db:u:pw\n",
    b"*:*:archive:*:wild-db\n",
    b"db9.example.org:5439:dev:IAM\\:x:pw5\n",
    b"\xff\xfe binary-ish line\n",
    b"x:5432:db:user\\\\name:pw6\n",
    b"tab\there:5432:db:u:pw7\n",
    b"# end of foreign block\n",
    b"*:*:*:*:catch-all-last\n",
]


def test_fifty_concurrent_refreshes(rig: Rig, cli: Cli, isolated_env: Path) -> None:
    assert len(FOREIGN) == 20
    home = isolated_env
    users = [f"conc_user{i}" for i in range(SERVICES)]
    for u in users:
        prepare(rig, cli, u)
    config = home / ".config" / "pgiam" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("".join(
        f'[services.conc{i}]\nhost = "{rig.host}"\nport = {rig.signed_port}\nuser = "{u}"\n'
        f'dbname = "postgres"\nhostaddr = "{rig.hostaddr}"\nlocal_port = {rig.port}\n'
        f'sslrootcert = "{rig.ca_file}"\n\n'
        for i, u in enumerate(users)
    ))
    target = home / ".pgpass"
    target.write_bytes(b"".join(FOREIGN))
    target.chmod(0o600)

    env = cli.environ({"PGIAM_TEST_WRITE_DELAY": "0.001"})  # hold each lock a little longer
    procs = [
        subprocess.Popen([sys.executable, "-m", "pgiam", "refresh", "--force", f"conc{i % SERVICES}"],
                         env=env, cwd=str(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(PROCESSES)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    failed = [(code, err) for code, _, err in results if code != 0]
    assert failed == []
    assert all(out.count(": refreshed") == 1 for _, out, _ in results)

    data = target.read_bytes()
    lines = pgpass.parse(data)
    ours = [ln for ln in lines if b"X-Amz-Signature=" in ln.raw]
    foreign = [ln.raw for ln in lines if b"X-Amz-Signature=" not in ln.raw]
    assert foreign == FOREIGN  # byte-identical and in order: lines lost = 0
    assert len(ours) == SERVICES
    for u in users:
        assert sum(1 for ln in ours if ln.fields is not None and ln.fields[3] == u.encode()) == 1
        found = pgpass.lookup(data, rig.host, str(rig.port), "postgres", u)
        assert found is not None and "X-Amz-Signature=" in found[1]
    assert all(ln.is_entry and ln.raw.endswith(b"\n") and ln.raw.count(b"\n") == 1 for ln in ours)
    assert data.index(b"X-Amz") < data.index(b"*:*:*:*:catch-all-last")  # placed before the catch-all
    assert not [n for n in home.iterdir() if ".pgiam-tmp-" in n.name]

    for i, u in enumerate(users):
        p = psql_service(rig, home, f"conc{i}")
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip() == u
