"""A throwaway PostgreSQL server that authenticates like Amazon RDS with IAM auth.

    with Rig() as rig:
        rig.register_credentials("AKIDRIG", "secret")
        rig.create_role("alice")
        token = <sign for rig.signed_endpoint as alice with AKIDRIG/secret>
        rig.psql("alice", "select current_user", password=token)

* TLS with a throwaway CA and a server certificate for ``db1.abc123xyz.us-west-2.rds.amazonaws.com``;
  clients connect like through a tunnel: ``host=<rig.host> hostaddr=127.0.0.1 port=<rig.port>
  sslmode=verify-full sslrootcert=<rig.ca_file>`` while tokens are signed for ``rig.signed_endpoint``
  (port 5432, not the real port).
* Every TCP login goes through PostgreSQL's ``ldap`` auth (simple bind) to an in-process LDAP responder
  that verifies the password as a SigV4 IAM token (tests/pg/sigv4_check.py). Non-TLS TCP is rejected.
* The rig's own superuser ``rigadmin`` connects over the Unix socket in the rig directory (trust).
* Runs PostgreSQL as the ``postgres`` OS user when we are root, directly otherwise.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable

from tests.pg.ldap_verifier import LdapBindVerifier, strip_dn
from tests.pg.sigv4_check import Credentials, TokenRejected, verify_presigned

DEFAULT_HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"
DEFAULT_SIGNED_PORT = 5432
DEFAULT_REGION = "us-west-2"
ADMIN_ROLE = "rigadmin"
LDAP_PREFIX = "uid="
LDAP_SUFFIX = ",dc=iam,dc=test"
SERVER_USER = "postgres"  # OS user that runs the server when we are root
# Other clouds: the certificate also names an Azure server and 127.0.0.1 (Cloud SQL / AlloyDB by IP), and
# the verifier accepts the bearer tokens (Entra, Google) that the local stand-ins issued, for their role.
AZURE_HOST = "pgiamrig.postgres.database.azure.com"
EXTRA_SANS = (f"DNS:{AZURE_HOST}", "IP:127.0.0.1")


class _Accepted(Exception):
    """A bearer token passed (control flow inside _check_bind)."""


class RigError(RuntimeError):
    """The rig could not be set up or an admin command failed."""


@dataclass(frozen=True)
class VerifierEvent:
    """One bind attempt seen by the verifier. The password itself is never kept."""

    role: str
    password_sha256: str
    password_length: int
    accepted: bool
    reason: str
    at: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "password_sha256": self.password_sha256,
            "password_length": self.password_length,
            "accepted": self.accepted,
            "reason": self.reason,
            "at": self.at,
        }


def find_bindir() -> str:
    """Directory with initdb/pg_ctl/postgres: initdb on PATH first, else the highest
    /usr/lib/postgresql/*/bin (Debian/Ubuntu layout)."""
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(os.path.realpath(initdb))

    def version(path: str) -> tuple[int, ...]:
        name = os.path.basename(os.path.dirname(path))
        return tuple(int(p) for p in re.findall(r"\d+", name)) or (0,)

    candidates = sorted(
        (d for d in glob.glob("/usr/lib/postgresql/*/bin") if os.path.exists(os.path.join(d, "initdb"))),
        key=version,
    )
    if not candidates:
        raise RigError(
            "initdb not found on PATH nor in /usr/lib/postgresql/*/bin; install the Debian package "
            "'postgresql' (see notes/ci-apt.txt)"
        )
    return candidates[-1]


def find_psql(bindir: str | None = None) -> str:
    """The real psql next to initdb (same version as the server), else psql on PATH (which on Debian
    is the pg_wrapper Perl script)."""
    candidate = os.path.join(bindir or find_bindir(), "psql")
    if os.path.exists(candidate):
        return candidate
    found = shutil.which("psql")
    if found:
        return found
    raise RigError("psql not found on PATH nor next to initdb; install 'postgresql-client'")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier, safe for any characters but NUL."""
    if "\0" in name:
        raise ValueError("identifier contains NUL")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A standard SQL string literal (standard_conforming_strings is on)."""
    if "\0" in value:
        raise ValueError("literal contains NUL")
    return "'" + value.replace("'", "''") + "'"


def conf_quote(value: str) -> str:
    """Quote a value for postgresql.conf."""
    return "'" + value.replace("'", "''") + "'"


def conninfo_quote(value: str) -> str:
    """Quote a value for a libpq keyword=value connection string."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


_live_rigs: list[Rig] = []
_live_lock = threading.Lock()


def _stop_all_at_exit() -> None:
    with _live_lock:
        rigs = list(_live_rigs)
    for rig in rigs:
        with contextlib.suppress(Exception):
            rig.stop()


atexit.register(_stop_all_at_exit)


class Rig:
    """A running PostgreSQL + IAM-token verifier. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        *,
        host: str = DEFAULT_HOST,
        signed_port: int = DEFAULT_SIGNED_PORT,
        region: str = DEFAULT_REGION,
        keep_dir: bool = False,
    ) -> None:
        self._default_host = host
        self._default_signed_port = signed_port
        self._default_region = region
        self.host = host  # the RDS-like endpoint name in the certificate and in signed tokens
        self.signed_port = signed_port  # the port tokens must be signed for (not the real port)
        self.region = region
        self.hostaddr = "127.0.0.1"
        self.port = 0  # the real TCP port, set by start()
        self.keep_dir = keep_dir
        self.dir = ""
        self.data_dir = ""
        self.ca_file = ""
        self._openssl_conf = ""
        self._server_key = ""
        self._server_crt = ""
        self.bindir = find_bindir()
        self.psql_path = find_psql(self.bindir)
        # Pluggable: fn(access_key_id) -> (secret, session_token or None) or None. Consulted after
        # the registry (e.g. moto's STS backend).
        self.secret_lookup: Callable[[str], Credentials | None] | None = None
        # The verifier's clock (epoch seconds); tests may move it to make valid tokens expire.
        self.clock: Callable[[], float] = time.time
        self._registry: dict[str, Credentials] = {}
        self._bearers: dict[str, tuple[str, float]] = {}  # sha256(token) -> (role, expires at epoch)
        self._events: list[VerifierEvent] = []
        self._lock = threading.Lock()
        self._verifier: LdapBindVerifier | None = None
        self._started = False
        self._server_user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self._server_user = pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise RigError(
                    f"running as root but there is no '{SERVER_USER}' OS user to run PostgreSQL; "
                    "install the Debian package 'postgresql' or run the tests as an ordinary user"
                ) from None

    # ------------------------------------------------------------------ public properties

    @property
    def signed_endpoint(self) -> str:
        """``HOST:PORT`` tokens must be signed for."""
        return f"{self.host}:{self.signed_port}"

    @property
    def events_file(self) -> str:
        return os.path.join(self.dir, "verifier.jsonl")

    @property
    def bearer_file(self) -> str:
        """JSON lines {"sha256", "role", "exp"} that stand-ins in other processes (an `az` script) append:
        the bearer tokens they issued, which the verifier accepts for that role until exp."""
        return os.path.join(self.dir, "bearer-tokens.jsonl")

    def accept_bearer(self, token: str, role: str, expires_at: float) -> None:
        """Make the verifier accept this bearer token (an Entra or Google access token) for this role."""
        with self._lock:
            self._bearers[hashlib.sha256(token.encode()).hexdigest()] = (role, expires_at)

    def _bearer_lookup(self, digest: str) -> tuple[str, float] | None:
        with self._lock:
            found = self._bearers.get(digest)
        if found is not None:
            return found
        try:
            with open(self.bearer_file, encoding="utf-8") as fh:
                for line in fh:
                    rec = json.loads(line)
                    if rec.get("sha256") == digest:
                        return str(rec["role"]), float(rec["exp"])
        except (OSError, ValueError, KeyError):
            return None
        return None

    def _verify_bearer(self, password: str, role: str) -> None:
        """Accept exactly the bearer tokens a stand-in issued, for the role it issued them for."""
        found = self._bearer_lookup(hashlib.sha256(password.encode()).hexdigest())
        if found is None:
            raise TokenRejected("unknown bearer token (no stand-in issued it)")
        want_role, exp = found
        if want_role != role:
            raise TokenRejected(f"bearer token was issued for {want_role!r}, not {role!r}")
        if self.clock() >= exp:
            raise TokenRejected("expired bearer token")

    @property
    def log_file(self) -> str:
        return os.path.join(self.dir, "postgres.log")

    @property
    def socket_dir(self) -> str:
        return self.dir

    # ------------------------------------------------------------------ verifier registry

    def register_credentials(self, access_key_id: str, secret: str, session_token: str | None = None) -> None:
        """Make the verifier accept tokens signed with these credentials."""
        with self._lock:
            self._registry[access_key_id] = (secret, session_token)

    def forget_credentials(self, access_key_id: str) -> None:
        with self._lock:
            self._registry.pop(access_key_id, None)

    def verifier_events(self) -> list[VerifierEvent]:
        with self._lock:
            return list(self._events)

    def reset(self) -> None:
        """Clear registry, events, secret_lookup, clock and endpoint settings back to defaults."""
        with self._lock:
            self._registry.clear()
            self._events.clear()
            self._bearers.clear()
        if self.dir and os.path.exists(self.bearer_file):
            os.unlink(self.bearer_file)
        self.secret_lookup = None
        self.clock = time.time
        self.host = self._default_host
        self.signed_port = self._default_signed_port
        self.region = self._default_region

    def _lookup(self, akid: str) -> Credentials | None:
        with self._lock:
            found = self._registry.get(akid)
        if found is None and self.secret_lookup is not None:
            found = self.secret_lookup(akid)
        return found

    def _check_bind(self, dn_bytes: bytes, password_bytes: bytes) -> tuple[bool, str]:
        dn = dn_bytes.decode("utf-8", errors="replace")
        role = strip_dn(dn, LDAP_PREFIX, LDAP_SUFFIX)
        accepted = False
        if role is None:
            reason = "bind DN does not have the expected prefix/suffix"
            role = dn
        else:
            try:
                password = password_bytes.decode("utf-8")
                if "X-Amz-" not in password:
                    self._verify_bearer(password, role)
                    raise _Accepted
                verify_presigned(
                    password,
                    service="rds-db",
                    expected_host=self.signed_endpoint,
                    action="connect",
                    lookup=self._lookup,
                    now=self.clock(),
                    region=self.region,
                    expected_params={"DBUser": role},
                    max_expires=900,
                )
                accepted, reason = True, "ok"
            except _Accepted:
                accepted, reason = True, "ok (bearer)"
            except UnicodeDecodeError:
                reason = "password is not UTF-8"
            except TokenRejected as exc:
                reason = exc.reason
        event = VerifierEvent(
            role=role,
            password_sha256=hashlib.sha256(password_bytes).hexdigest(),
            password_length=len(password_bytes),
            accepted=accepted,
            reason=reason,
            at=time.time(),
        )
        with self._lock:
            self._events.append(event)
            if self.dir:
                with open(self.events_file, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(event.as_dict(), ensure_ascii=False) + "\n")
        return accepted, reason

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Rig:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Rig:
        if self._started:
            return self
        try:
            self.dir = tempfile.mkdtemp(prefix="pgrig-", dir="/tmp")
            with _live_lock:
                _live_rigs.append(self)
            self._started = True
            self.data_dir = os.path.join(self.dir, "data")
            self._make_tls()
            self._verifier = LdapBindVerifier(self._check_bind).start()
            self._chown_tree()
            self._initdb()
            self._configure()
            self._start_server()
            self.admin_execute("CREATE ROLE rds_iam NOLOGIN;")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop PostgreSQL (immediate), the verifier, and remove the directory. Idempotent."""
        if not self._started:
            return
        self._started = False
        try:
            if self.data_dir and os.path.exists(os.path.join(self.data_dir, "postmaster.pid")):
                self._stop_server()
        finally:
            if self._verifier is not None:
                self._verifier.stop()
                self._verifier = None
            if self.dir and not self.keep_dir:
                shutil.rmtree(self.dir, ignore_errors=True)
            with _live_lock:
                if self in _live_rigs:
                    _live_rigs.remove(self)

    # ------------------------------------------------------------------ internals

    def _server_env(self) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}
        env["HOME"] = self.dir
        return env

    def _run_server_tool(
        self, argv: Sequence[str], *, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        if self._server_user is not None:
            kwargs.update(user=self._server_user.pw_uid, group=self._server_user.pw_gid, extra_groups=[])
        return subprocess.run(
            list(argv),
            cwd=self.dir,
            env=self._server_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kwargs,
        )

    def _tool(self, name: str) -> str:
        return os.path.join(self.bindir, name)

    def _chown_tree(self) -> None:
        if self._server_user is None:
            return
        uid, gid = self._server_user.pw_uid, self._server_user.pw_gid
        for root, dirs, files in os.walk(self.dir):
            os.chown(root, uid, gid)
            for name in dirs + files:
                os.chown(os.path.join(root, name), uid, gid)

    def _openssl(self, *args: str) -> None:
        proc = subprocess.run(
            ["openssl", *args], cwd=self.dir, capture_output=True, text=True, check=False, timeout=60,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OPENSSL_CONF": self._openssl_conf},
        )
        if proc.returncode != 0:
            raise RigError(f"openssl {args[0]} failed: {proc.stderr.strip()[-500:]}")

    def _make_tls(self) -> None:
        if shutil.which("openssl") is None:
            raise RigError("the openssl command is missing; install the Debian package 'openssl'")
        tls = os.path.join(self.dir, "tls")
        os.mkdir(tls, 0o700)
        self._openssl_conf = os.path.join(tls, "openssl.cnf")
        with open(self._openssl_conf, "w", encoding="ascii") as fh:
            fh.write(
                "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
                "[ca_ext]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
                "subjectKeyIdentifier = hash\n"
                f"[server_ext]\nsubjectAltName = {','.join((f'DNS:{self.host}', *EXTRA_SANS))}\n"
                "basicConstraints = CA:FALSE\n"
                "keyUsage = critical,digitalSignature,keyEncipherment\nextendedKeyUsage = serverAuth\n"
                "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n"
            )
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        ca_key, ca_pem = os.path.join(tls, "ca.key"), os.path.join(tls, "ca.pem")
        key, csr, crt = (os.path.join(tls, n) for n in ("server.key", "server.csr", "server.crt"))
        self._openssl(
            "req", "-x509", *ec, "-keyout", ca_key, "-out", ca_pem, "-days", "3",
            "-subj", "/CN=pgiam test rig CA", "-config", self._openssl_conf, "-extensions", "ca_ext",
        )
        self._openssl("req", "-new", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={self.host}",
                      "-config", self._openssl_conf)
        self._openssl(
            "x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key, "-set_serial", "2",
            "-days", "2", "-out", crt, "-extfile", self._openssl_conf, "-extensions", "server_ext",
        )
        os.chmod(key, 0o600)
        os.chmod(ca_pem, 0o644)
        self.ca_file = ca_pem
        self._server_key, self._server_crt = key, crt

    def _initdb(self) -> None:
        proc = self._run_server_tool(
            [self._tool("initdb"), "-D", self.data_dir, "-U", ADMIN_ROLE, "-A", "trust", "-E", "UTF8",
             "--locale=C", "--no-sync"],
        )
        if proc.returncode != 0:
            raise RigError(f"initdb failed: {(proc.stderr or proc.stdout).strip()[-800:]}")

    def _configure(self) -> None:
        assert self._verifier is not None
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port or free_port()),
            "unix_socket_directories": conf_quote(self.dir),
            "ssl": "on",
            "ssl_cert_file": conf_quote(self._server_crt),
            "ssl_key_file": conf_quote(self._server_key),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "wal_level": "minimal",
            "max_wal_senders": "0",
            "autovacuum": "off",
            "shared_buffers": "16MB",
            "max_connections": "40",
            "huge_pages": "off",
            "log_connections": "on",
            "log_line_prefix": "'%m [%p] %q%u@%d '",
            "password_encryption": "'scram-sha-256'",
        }
        with open(os.path.join(self.data_dir, "postgresql.conf"), "a", encoding="utf-8") as fh:
            fh.write("\n# --- pgiam test rig ---\n")
            for key, value in conf.items():
                fh.write(f"{key} = {value}\n")
        self.port = int(conf["port"])
        ldap = (
            f'ldap ldapserver=127.0.0.1 ldapport={self._verifier.port} '
            f'ldapprefix="{LDAP_PREFIX}" ldapsuffix="{LDAP_SUFFIX}"'
        )
        hba = (
            "# pgiam test rig: admin over the Unix socket, IAM tokens (LDAP bind to the verifier) over TLS\n"
            "local all all trust\n"
            "hostnossl all all 0.0.0.0/0 reject\n"
            "hostnossl all all ::/0 reject\n"
            f"hostssl all all 127.0.0.1/32 {ldap}\n"
            "host all all 0.0.0.0/0 reject\n"
            "host all all ::/0 reject\n"
        )
        with open(os.path.join(self.data_dir, "pg_hba.conf"), "w", encoding="utf-8") as fh:
            fh.write(hba)
        self._chown_tree()

    def _set_port(self, port: int) -> None:
        path = os.path.join(self.data_dir, "postgresql.conf")
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text + f"port = {port}\n")
        self.port = port

    def _start_server(self) -> None:
        last = ""
        for attempt in range(4):
            if attempt:
                self._set_port(free_port())
            proc = self._run_server_tool(
                [self._tool("pg_ctl"), "-D", self.data_dir, "-l", self.log_file, "-w", "-t", "30",
                 "start"],
            )
            if proc.returncode == 0:
                return
            last = self.server_log()[-1500:] or (proc.stderr or proc.stdout)
            if "could not bind" not in last and "already in use" not in last:
                break
        raise RigError(f"PostgreSQL did not start: {last.strip()}")

    def _stop_server(self) -> None:
        proc = self._run_server_tool(
            [self._tool("pg_ctl"), "-D", self.data_dir, "-m", "immediate", "-w", "-t", "20", "stop"]
        )
        if proc.returncode == 0:
            return
        # pg_ctl failed: kill the postmaster we started, by its pid, and wait for it.
        with contextlib.suppress(OSError, ValueError, IndexError):
            with open(os.path.join(self.data_dir, "postmaster.pid"), encoding="ascii") as fh:
                pid = int(fh.readline().strip())
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)

    def server_log(self) -> str:
        """The PostgreSQL server log (for debugging failed tests)."""
        try:
            with open(self.log_file, encoding="utf-8", errors="replace") as fh:
                return fh.read()
        except OSError:
            return ""

    # ------------------------------------------------------------------ admin SQL

    def admin_psql(self, sql: str, *, dbname: str = "postgres") -> str:
        """Run SQL as the superuser over the Unix socket (psql -X -At, ON_ERROR_STOP); return stdout."""
        if not self._started:
            raise RigError("the rig is not running")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(PGCLIENTENCODING="UTF8", PGCONNECT_TIMEOUT="10")
        proc = subprocess.run(
            [self.psql_path, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.dir,
             "-p", str(self.port), "-U", ADMIN_ROLE, "-d", dbname, "-f", "-"],
            input=sql, capture_output=True, text=True, encoding="utf-8", env=env, check=False, timeout=60,
        )
        if proc.returncode != 0:
            raise RigError(f"admin SQL failed (exit {proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout

    def admin_execute(self, sql: str, *, dbname: str = "postgres") -> None:
        self.admin_psql(sql, dbname=dbname)

    def role_exists(self, name: str) -> bool:
        out = self.admin_psql(f"SELECT count(*) FROM pg_roles WHERE rolname = {quote_literal(name)};")
        return out.strip() == "1"

    def create_role(self, name: str, *, rds_iam: bool = True) -> None:
        """A LOGIN role (any characters; idempotent), granted rds_iam like on RDS."""
        if not self.role_exists(name):
            self.admin_execute(f"CREATE ROLE {quote_ident(name)} LOGIN;")
        if rds_iam:
            self.admin_execute(f"GRANT rds_iam TO {quote_ident(name)};")

    def create_database(self, name: str, owner: str) -> None:
        exists = self.admin_psql(f"SELECT count(*) FROM pg_database WHERE datname = {quote_literal(name)};")
        if exists.strip() != "1":
            self.admin_execute(f"CREATE DATABASE {quote_ident(name)} OWNER {quote_ident(owner)};")

    # ------------------------------------------------------------------ client side

    def conninfo(self, user: str, dbname: str = "postgres", **overrides: str) -> dict[str, str]:
        """libpq keywords for a tunnel-style verify-full connection to the rig (no password)."""
        params = {
            "host": self.host,
            "hostaddr": self.hostaddr,
            "port": str(self.port),
            "dbname": dbname,
            "user": user,
            "sslmode": "verify-full",
            "sslrootcert": self.ca_file,
            "connect_timeout": "10",
        }
        params.update(overrides)
        return params

    def conninfo_string(self, user: str, dbname: str = "postgres", **overrides: str) -> str:
        params = self.conninfo(user, dbname, **overrides)
        return " ".join(f"{k}={conninfo_quote(v)}" for k, v in params.items())

    def psql(
        self,
        user: str,
        sql: str,
        *,
        password: str | None = None,
        dbname: str = "postgres",
        env: Mapping[str, str] | None = None,
        **overrides: str,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real psql as a client (-X -At -c SQL). The password goes through PGPASSWORD in the
        environment, never argv; with password=None PGPASSWORD is removed (pgpass is used)."""
        child_env = dict(os.environ if env is None else env)
        child_env.pop("PGPASSWORD", None)
        child_env.setdefault("PGCLIENTENCODING", "UTF8")
        if password is not None:
            child_env["PGPASSWORD"] = password
        return subprocess.run(
            [self.psql_path, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-d", self.conninfo_string(user, dbname, **overrides), "-c", sql],
            capture_output=True, text=True, encoding="utf-8", env=child_env, check=False, timeout=60,
            stdin=subprocess.DEVNULL,
        )
