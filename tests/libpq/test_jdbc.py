"""pgjdbc (42.3+) reads the same ~/.pg_service.conf and ~/.pgpass: `jdbc = true` keeps a stanza to keys
it accepts, and pgiam's pgpass escaping is exactly what it unescapes. The last tests run the real
pgjdbc parsers when java and a pgjdbc jar are available."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pgiam.config import model as config
from pgiam.flow.desired import pgpass_key, stanza_params
from pgiam.libpq import pgpass
from pgiam.libpq import rules as libpq_rules
from pgiam.libpq.rules import JDBC_KEYS
from tests.conftest import Cli

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"


def service(tmp_path: Path, jdbc: bool) -> config.Service:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[services.demo]\nhost = "{HOST}"\nuser = "jane"\nhostaddr = "127.0.0.1"\nlocal_port = 15432\n'
        f'jdbc = {"true" if jdbc else "false"}\n'
        'libpq = { application_name = "pgiam", connect_timeout = 5, options = "-c search_path=app" }\n'
    )
    return config.load(cfg).services["demo"]


def test_jdbc_stanza_keeps_only_keys_pgjdbc_accepts(tmp_path: Path) -> None:
    svc = service(tmp_path, jdbc=True)
    params = stanza_params(svc, "jane", passfile="/x/pgpass")
    assert {k for k, _ in params} <= JDBC_KEYS
    assert dict(params) == {"host": HOST, "port": "15432", "dbname": "jane", "user": "jane",
                            "sslmode": "verify-full", "options": "-c search_path=app"}
    assert libpq_rules.jdbc_incompatible_keys(params) == []


def test_plain_stanza_is_flagged_for_pgjdbc(tmp_path: Path) -> None:
    svc = service(tmp_path, jdbc=False)
    params = stanza_params(svc, "jane", passfile="/x/pgpass")
    assert libpq_rules.jdbc_incompatible_keys(params) == ["hostaddr", "passfile", "application_name",
                                                          "connect_timeout"]


def pgjdbc_fields(line: str) -> list[str]:
    """Split a pgpass line by pgjdbc's documented rules: `\\\\` -> `\\`, `\\:` -> `:`, nothing else."""
    fields, cur, i = [], "", 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line) and line[i + 1] in "\\:":
            cur += line[i + 1]
            i += 2
            continue
        if c == ":":
            fields.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    return [*fields, cur]


TOKENS = [f"{HOST}:5432/?Action=connect&X-Amz-Signature=ab", "a\\b:c\\:d", "e%3A\\\\f"]


@pytest.mark.parametrize("token", TOKENS)
def test_pgpass_line_reads_back_under_pgjdbc_rules(tmp_path: Path, token: str) -> None:
    svc = service(tmp_path, jdbc=True)
    line = pgpass.format_line(pgpass_key(svc, "ja:ne\\x"), token).decode().rstrip("\n")
    assert pgjdbc_fields(line) == [HOST, "15432", "jane", "ja:ne\\x", token]


# --------------------------------------------------------------------------- the real pgjdbc


def _pgjdbc_jar() -> str | None:
    """$PGJDBC_JAR, Debian's libpostgresql-jdbc-java, or a Maven cache (looked up at import time)."""
    maven = os.path.expanduser("~/.m2/repository/org/postgresql/postgresql/*/postgresql-*.jar")
    newest_first = sorted((j for j in glob.glob(maven) if not j.endswith("-sources.jar")), reverse=True)
    candidates = [os.environ.get("PGJDBC_JAR", ""), "/usr/share/java/postgresql.jar", *newest_first]
    return next((c for c in candidates if c and os.path.isfile(c)), None)


JAR = _pgjdbc_jar()
JAVA = shutil.which("java")
needs_pgjdbc = pytest.mark.skipif(JAR is None or JAVA is None,
                                  reason="needs java and a pgjdbc jar (apt install default-jre-headless "
                                         "libpostgresql-jdbc-java, or set PGJDBC_JAR)")

PROBE = """
import java.util.Properties;
import java.util.TreeSet;
import org.postgresql.jdbcurlresolver.PgPassParser;
import org.postgresql.jdbcurlresolver.PgServiceConfParser;

public class Probe {
  public static void main(String[] args) {
    Properties p = PgServiceConfParser.getServiceProperties(args[0]);
    if (p == null) { System.out.println("service rejected"); return; }
    for (String k : new TreeSet<>(p.stringPropertyNames())) {
      System.out.println("prop " + k + "=" + p.getProperty(k));
    }
    String pw = PgPassParser.getPassword(p.getProperty("PGHOST"), p.getProperty("PGPORT"),
                                         p.getProperty("PGDBNAME"), p.getProperty("user"));
    System.out.println("password " + (pw == null ? "<none>" : pw));
  }
}
"""


def _probe(tmp_path: Path, home: Path, name: str) -> list[str]:
    src = tmp_path / "Probe.java"
    src.write_text(PROBE)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home)}
    proc = subprocess.run([str(JAVA), f"-Duser.home={home}", "-cp", str(JAR), str(src), name],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


@needs_pgjdbc
def test_real_pgjdbc_reads_jdbc_stanza_and_token(cli: Cli, isolated_env: Path, tmp_path: Path) -> None:
    cli.static_keys()
    cfg = isolated_env / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(
        f'[services.java]\nhost = "{HOST}"\nuser = "jane"\nhostaddr = "127.0.0.1"\nlocal_port = 15432\n'
        'jdbc = true\nlibpq = { options = "-c search_path=app", application_name = "x" }\n'
        f'[services.plain]\nhost = "{HOST}"\nuser = "joe"\nhostaddr = "127.0.0.1"\nlocal_port = 15432\n'
    )
    r = cli("refresh")
    assert r.code == 0, r.err
    stanza = (isolated_env / ".pg_service.conf").read_text()
    assert "hostaddr=127.0.0.1" in stanza  # the plain service has it ...
    token = pgpass.lookup((isolated_env / ".pgpass").read_bytes(), HOST, "15432", "jane", "jane")
    assert token is not None
    out = _probe(tmp_path, isolated_env, "java")  # ... the jdbc one does not, and pgjdbc accepts it
    assert out == ["prop PGDBNAME=jane", f"prop PGHOST={HOST}", "prop PGPORT=15432",
                   "prop options=-c search_path=app", "prop sslmode=verify-full", "prop user=jane",
                   f"password {token[1]}"]
    # the same pgjdbc rejects the libpq-only stanza: the check above can fail
    assert _probe(tmp_path, isolated_env, "plain") == ["service rejected"]


def test_doctor_warns_about_jdbc_incompatible_stanzas(tmp_path: Path) -> None:
    from pgiam.host import doctor

    plain = service(tmp_path, jdbc=False)
    # a note, not a warning: most users have no Java client and libpq needs hostaddr
    c = doctor.jdbc(plain, stanza_params(plain, "jane", passfile=None))
    assert c.status == doctor.OK and "hostaddr" in c.verdict and "jdbc = true" in c.fix
    java = service(tmp_path, jdbc=True)
    assert doctor.jdbc(java, stanza_params(java, "jane", passfile=None)).status == doctor.OK
    # jdbc = true but the stanza on disk still has the keys pgjdbc rejects: a failure with the fix
    stale = doctor.jdbc(java, stanza_params(plain, "jane", passfile=None))
    assert stale.status == doctor.FAIL and "refresh --force" in stale.fix
