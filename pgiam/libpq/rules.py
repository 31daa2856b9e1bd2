"""Pure: what a given libpq version accepts in ~/.pgpass and ~/.pg_service.conf.

Versions are ``pgiam.host.libpq_version`` pairs (``divmod(PG_VERSION_NUM, 10000)``: 15.4 -> (15, 4),
9.6.20 -> (9, 620)); ``None`` means the version is unknown. The rules refuse only on facts: with an
unknown version nothing is refused (``doctor`` says the version could not be determined).

Version numbers are the first releases with the behaviour (see LIBPQ.md, read from fe-connect.c):

* pgpass lines of any length: 13.0 / 12.5 / 11.10 / 10.15 / 9.6.20 / 9.5.24. Older libpq reads the
  file with ``fgets`` into a 320-byte buffer, so a line longer than 318 bytes (plus its newline) is
  cut into pieces and the token is truncated ("password retrieved from file" then fails).
* ``#`` comment lines in pgpass: 13.0 / 12.5 / 11.10 / 10.15 (no 9.x release).
* an unknown keyword in a service stanza is fatal; ``passfile`` needs 10, ``require_auth`` 16,
  ``sslnegotiation`` 17 (full table below).
* ``sslrootcert=system``: 16 (older libpq looks for a file named "system").
* service-file lines: at most 253 bytes up to 13, 1021 bytes from 14.
* home directory for ``~/.pgpass`` and ``~/.pg_service.conf``: the passwd entry up to 14, ``$HOME``
  (when set) from 15.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pgiam.libpq.version import format_version

# The newest libpq whose keyword list the table below is known to be complete for. On a newer libpq
# a keyword missing from the table may be a new one, so it is not called unknown.
NEWEST_KNOWN: tuple[int, int] = (18, 0)

# First release per branch with unlimited pgpass line length (branches: (12, 0) for 12.x, (9, 6) for 9.6.x).
_UNLIMITED_LINES: Mapping[tuple[int, int], tuple[int, int]] = {
    (13, 0): (13, 0), (12, 0): (12, 5), (11, 0): (11, 10), (10, 0): (10, 15),
    (9, 6): (9, 620), (9, 5): (9, 524),
}

OLD_PGPASS_LINE_MAX = 318  # bytes before the newline that libpq < 13.0/12.5/11.10/10.15 reads whole
SERVICE_LINE_MAX_OLD = 253  # libpq <= 13
SERVICE_LINE_MAX = 1021  # libpq >= 14
# keys pgjdbc (42.3+) accepts in a service stanza; any other key makes it fail
JDBC_KEYS = frozenset(
    {"host", "port", "dbname", "user", "password", "sslmode", "sslcert", "sslkey", "sslrootcert",
     "sslpassword", "options"}
)

ALWAYS: tuple[int, int] = (0, 0)
# keyword -> first libpq release that accepts it in a connection string or service stanza
KEYWORD_SINCE: Mapping[str, tuple[int, int]] = {
    **dict.fromkeys(
        ("service", "user", "password", "dbname", "host", "hostaddr", "port", "options", "connect_timeout",
         "sslmode", "sslcert", "sslkey", "sslrootcert", "sslcrl", "krbsrvname", "gsslib",
         "application_name", "fallback_application_name", "keepalives", "keepalives_idle",
         "keepalives_interval", "keepalives_count"),
        ALWAYS,  # 9.0 and earlier: every libpq anyone still runs
    ),
    "client_encoding": (9, 100),
    "requirepeer": (9, 100),
    "replication": (9, 100),
    "sslcompression": (9, 200),
    "passfile": (10, 0),
    "target_session_attrs": (10, 0),
    "gssencmode": (12, 0),
    "tcp_user_timeout": (12, 0),
    "channel_binding": (13, 0),
    "sslpassword": (13, 0),
    "ssl_min_protocol_version": (13, 0),
    "ssl_max_protocol_version": (13, 0),
    "sslcrldir": (14, 0),
    "sslsni": (14, 0),
    "require_auth": (16, 0),
    "sslcertmode": (16, 0),
    "load_balance_hosts": (16, 0),
    "gssdelegation": (16, 0),
    "sslnegotiation": (17, 0),
    "min_protocol_version": (18, 0),
    "max_protocol_version": (18, 0),
    "sslkeylogfile": (18, 0),
    "oauth_issuer": (18, 0),
    "oauth_client_id": (18, 0),
    "oauth_client_secret": (18, 0),
    "oauth_scope": (18, 0),
}


def _branch(version: tuple[int, int]) -> tuple[int, int]:
    """(15, 0) for 15.x; (9, 6) for 9.6.x (before 10 the first two numbers name the branch)."""
    major, rest = version
    return (major, 0) if major >= 10 else (major, rest // 100)


def _fixed(version: tuple[int, int], table: Mapping[tuple[int, int], tuple[int, int]]) -> bool:
    branch = _branch(version)
    if branch > max(table):  # a branch newer than every listed one has the fix from its .0
        return True
    first = table.get(branch)
    return first is not None and version >= first


def unlimited_pgpass_lines(version: tuple[int, int] | None) -> bool | None:
    """True if this libpq reads pgpass lines of any length; None when the version is unknown."""
    return None if version is None else _fixed(version, _UNLIMITED_LINES)


def pgpass_line_limit_ok(version: tuple[int, int] | None, line_len: int) -> bool:
    """Can this libpq read a pgpass line of line_len bytes (without its newline) whole?

    Unknown versions are given the benefit of the doubt (True).
    """
    return line_len <= OLD_PGPASS_LINE_MAX or unlimited_pgpass_lines(version) is not False


def keyword_known(version: tuple[int, int], key: str) -> bool:
    since = KEYWORD_SINCE.get(key)
    if since is None:
        return version > NEWEST_KNOWN  # maybe a keyword newer than this table
    return version >= since


def unknown_stanza_keys(version: tuple[int, int] | None, keys: Iterable[str]) -> list[str]:
    """The keys a service stanza may not carry for this libpq (it rejects the whole stanza), in order."""
    if version is None:
        return []
    return [k for k in dict.fromkeys(keys) if not keyword_known(version, k)]


def known_keywords(version: tuple[int, int]) -> frozenset[str]:
    """Every keyword this table says the given libpq accepts."""
    return frozenset(k for k, since in KEYWORD_SINCE.items() if version >= since)


def supports_sslrootcert_system(version: tuple[int, int] | None) -> bool | None:
    """`sslrootcert=system` (the OS trust store) needs libpq 16; None when unknown."""
    return None if version is None else version >= (16, 0)


def service_line_max(version: tuple[int, int] | None) -> int:
    """Longest service-file line this libpq reads (the conservative 253 when unknown)."""
    return SERVICE_LINE_MAX if version is not None and version >= (14, 0) else SERVICE_LINE_MAX_OLD


def home_is_passwd_entry(version: tuple[int, int] | None) -> bool | None:
    """libpq <= 14 finds ~ in the passwd entry and ignores $HOME; None when unknown."""
    return None if version is None else version < (15, 0)


def libpq_home(version: tuple[int, int] | None, env_home: str | None, passwd_home: str | None) -> str | None:
    """The directory libpq calls "home": $HOME (if set and non-empty) on 15+, the passwd entry before.

    With an unknown version the 15+ rule is used (callers who care compare both; see paths.effective_pgpass).
    """
    if home_is_passwd_entry(version):
        return passwd_home or None
    return env_home or passwd_home or None


def jdbc_incompatible_keys(params: Sequence[tuple[str, str]]) -> list[str]:
    """Stanza keys pgjdbc (42.3+, which reads the same service file) rejects; `jdbc = true` drops them."""
    return [k for k in dict.fromkeys(k for k, _ in params) if k not in JDBC_KEYS]


def _release(v: tuple[int, int]) -> str:
    return str(v[0]) if v[0] >= 10 and v[1] == 0 else format_version(v)


def stanza_problem(
    version: tuple[int, int] | None, name: str, params: Sequence[tuple[str, str]]
) -> str | None:
    """Why this libpq would reject the stanza pgiam is about to write (one line), or None."""
    shown = format_version(version)
    unknown = unknown_stanza_keys(version, (k for k, _ in params))
    if unknown:
        need = ", ".join(
            f"{k} (needs libpq {_release(KEYWORD_SINCE[k])})" if k in KEYWORD_SINCE
            else f"{k} (not a libpq keyword)"
            for k in unknown
        )
        return (
            f"the local libpq {shown} would reject the whole [{name}] stanza: it does not know {need}; "
            "upgrade libpq or remove the key from the service's config"
        )
    if ("sslrootcert", "system") in params and supports_sslrootcert_system(version) is False:
        return (
            f"sslrootcert=system in [{name}] needs libpq 16 (the local libpq {shown} would look for a file "
            "named 'system'); upgrade libpq or set sslrootcert to a CA bundle file"
        )
    return None


def pgpass_line_problem(version: tuple[int, int] | None, name: str, line_len: int) -> str | None:
    """Why this libpq would truncate the token line pgiam is about to write (one line), or None."""
    if pgpass_line_limit_ok(version, line_len):
        return None
    return (
        f"the token's pgpass line is {line_len} bytes but libpq {format_version(version)} reads only "
        f"{OLD_PGPASS_LINE_MAX} bytes per line and would cut the token; upgrade libpq (13.0, 12.5, 11.10, "
        f"10.15 or newer) or run clients as `pgiam exec {name} -- psql` (the token goes in PGPASSWORD)"
    )
