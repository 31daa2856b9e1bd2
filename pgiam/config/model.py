"""Load and validate the TOML config into frozen Service values.

Every error names the file, the service and the key, and exits 2.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pgiam.config import kinds
from pgiam.config.clouds import CLOUD_KINDS
from pgiam.config.endpoints import is_ip_or_local, parse_endpoint
from pgiam.errors import ConfigError

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
LIBPQ_KEY_RE = re.compile(r"^[a-z_]+$")
KINDS = kinds.NAMES
SSLMODES = ("require", "verify-ca", "verify-full")
DEFAULT_REFRESH_BEFORE = 300
# Keys the stanza is built from; extra `libpq` keys may not repeat them or smuggle secrets in.
RESERVED_LIBPQ_KEYS = frozenset(
    {"host", "hostaddr", "port", "dbname", "user", "sslmode", "sslrootcert", "passfile",
     "password", "service", "servicefile"}
)

# key -> accepted Python types, in the order the reference documents them
SERVICE_KEYS: dict[str, tuple[type, ...]] = {
    "kind": (str,),
    "host": (str,),
    "port": (int,),
    "user": (str,),
    "dbname": (str,),
    "region": (str,),
    "profile": (str,),
    "hostaddr": (str,),
    "local_port": (int,),
    "sslmode": (str,),
    "sslrootcert": (str,),
    "signing_host": (str,),
    "refresh_before": (int,),
    "token_lifetime": (int,),
    "cluster_identifier": (str,),
    "workgroup": (str,),
    "db_groups": (list,),
    "auto_create": (bool,),
    "jdbc": (bool,),
    "libpq": (dict,),
}
REQUIRED_KEYS = ("host", "user")

# libpq keywords whose value is a secret: never in a stanza (the service file is often world-readable)
SECRET_LIBPQ_KEYS = frozenset({"password", "sslpassword", "oauth_client_secret"})
# every number in the config has bounds (a huge one would otherwise crash date arithmetic later)
NUMBER_BOUNDS: dict[str, tuple[int, int]] = {
    "port": (1, 65535),
    "local_port": (1, 65535),
    "refresh_before": (1, 604800),  # a week: the longest token (DSQL) lives no longer
    "token_lifetime": (1, 604800),
    "credential_timeout": (1, 600),
}
LIBPQ_INT_MAX = 2147483647  # libpq reads integer options as C int
# [defaults] keys that are settings of the run, not of a service
DEFAULT_CREDENTIAL_TIMEOUT = 30
GLOBAL_KEYS: dict[str, tuple[type, ...]] = {"credential_timeout": (int,)}


@dataclass(frozen=True)
class Service:
    """One database connection pgiam keeps a token for."""

    name: str
    host: str
    user: str
    port: int = 5432
    dbname: str = ""
    kind: str = "rds"
    region: str | None = None
    profile: str | None = None
    hostaddr: str | None = None
    local_port: int | None = None
    sslmode: str = "verify-full"
    sslrootcert: str | None = None
    signing_host: str | None = None
    refresh_before: int = DEFAULT_REFRESH_BEFORE
    token_lifetime: int | None = None
    cluster_identifier: str | None = None
    workgroup: str | None = None
    db_groups: tuple[str, ...] = ()
    auto_create: bool = False
    jdbc: bool = False
    libpq: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def dial_port(self) -> int:
        """The port libpq dials (a tunnel's local port when set), which pgpass must match."""
        return self.local_port if self.local_port is not None else self.port

    @property
    def sign_host(self) -> str:
        """The host name the token is signed for."""
        return self.signing_host or self.host


@dataclass(frozen=True)
class Config:
    """The valid services, and the entries that are not (name -> why), so one typo never stops the rest."""

    path: Path
    services: dict[str, Service]
    exists: bool = True
    broken: dict[str, ConfigError] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        """Every service name the config defines, valid or not, in config order."""
        return list(self.services) + [n for n in self.broken if n not in self.services]
    credential_timeout: int = DEFAULT_CREDENTIAL_TIMEOUT  # seconds per AWS profile ([defaults])

    def select(self, names: list[str]) -> list[Service]:
        """The named valid services (all when empty), in config order; unknown names are usage errors,
        and so is naming a service whose entry is invalid (its reason is the message)."""
        if not names:
            return list(self.services.values())
        self.check_names(names)
        bad = [n for n in names if n in self.broken]
        if bad:
            raise self.broken[bad[0]]
        return [self.services[n] for n in dict.fromkeys(names)]

    def check_names(self, names: list[str]) -> None:
        """Raise a usage error naming the first name the config does not define at all."""
        unknown = [n for n in names if n not in self.services and n not in self.broken]
        if unknown:
            known = ", ".join(self.names) or "none"
            raise ConfigError(
                f"no service {unknown[0]!r} in {self.path} (known: {known}); add it with `pgiam add`"
            )


# --------------------------------------------------------------------------- a built config as plain data

_SERVICE_FIELDS = tuple(Service.__dataclass_fields__)


def _defaults() -> dict[str, Any]:
    from dataclasses import MISSING

    out: dict[str, Any] = {}
    for name, f in Service.__dataclass_fields__.items():
        if f.default is not MISSING:
            out[name] = f.default
        elif f.default_factory is not MISSING:
            out[name] = f.default_factory()
    return out


def to_plain(cfg: Config) -> tuple[Any, ...]:
    """The config as plain values (what marshal holds), for pgiam.flow.tomlcache: ``from_plain``
    gives it back equal. Each service keeps only its fields that differ from Service's defaults."""
    defaults = _defaults()
    services = [{k: v for k, v in vars(s).items() if k not in defaults or defaults[k] != v}
                for s in cfg.services.values()]
    broken = [(name, str(err)) for name, err in cfg.broken.items()]
    settings = {k: getattr(cfg, k) for k in GLOBAL_KEYS}
    return (_SERVICE_FIELDS, cfg.exists, services, broken, settings)


def from_plain(path: Path, plain: tuple[Any, ...]) -> Config | None:
    """``to_plain`` undone; None when the data is not that shape (another pgiam's cache)."""
    try:
        fields, exists, services, broken, settings = plain
        if tuple(fields) != _SERVICE_FIELDS or set(settings) != set(GLOBAL_KEYS):
            return None
        defaults = _defaults()
        known = set(_SERVICE_FIELDS)
        required = [k for k in _SERVICE_FIELDS if k not in defaults]
        built: dict[str, Service] = {}
        for values in services:
            if not known.issuperset(values) or not all(k in values for k in required):
                return None
            svc = object.__new__(Service)  # (frozen: its __init__ sets 21 fields one by one)
            svc.__dict__.update(defaults)
            svc.__dict__.update(values)
            built[svc.name] = svc
        return Config(path=path, services=built, exists=bool(exists),
                      broken={name: ConfigError(text) for name, text in broken}, **settings)
    except (TypeError, ValueError, AttributeError):
        return None


def parse_toml(text: bytes, path: Path) -> dict[str, Any]:
    # (imported here: a run whose config comes from pgiam.flow.tomlcache never needs the parser)
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.9/3.10
        import tomli as tomllib
    try:
        return tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None


def load(path: Path, site_path: Path | None = None,
         parse: Callable[[bytes, Path], dict[str, Any]] | None = None, *, text: bytes | None = None) -> Config:
    """Read the config file (and a site-wide one whose services it inherits); a missing file is empty.

    `parse` stands in for parse_toml (pgiam.flow.tomlcache). ``text``: the content to use for ``path``
    instead of reading it (a verb's edit before it is saved).
    """
    layers: list[tuple[Path, dict[str, Any]]] = []
    for p in (site_path, path):
        if p is None:
            continue
        if p == path and text is not None:
            if text.strip():
                layers.append((p, parse_toml(text, p)))
            continue
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            continue
        except IsADirectoryError:
            raise ConfigError(f"{p}: is a directory, not a config file") from None
        except OSError as e:
            raise ConfigError(f"{p}: cannot read config: {e.strerror}") from None
        layers.append((p, (parse or parse_toml)(data, p)))
    exists = any(p == path for p, _ in layers)
    services, broken = build_config(layers)
    settings = build_settings(layers)
    return Config(path=path, services=services, exists=exists, broken=broken, **settings)


def build_settings(layers: list[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    """The run-wide settings of [defaults] (GLOBAL_KEYS), validated; later layers win."""
    out: dict[str, Any] = {}
    for path, doc in layers:
        d = doc.get("defaults", {})
        if not isinstance(d, dict):
            continue  # (build_config names the error)
        for k, v in d.items():
            if k in GLOBAL_KEYS:
                out[k] = _value(f"{path}: [defaults]", path, "[defaults]", k, v, GLOBAL_KEYS[k])
    return out


def build_services(layers: list[tuple[Path, dict[str, Any]]]) -> dict[str, Service]:
    """Every service of the layers, valid; the first invalid one raises its ConfigError."""
    services, broken = build_config(layers)
    if broken:
        raise next(iter(broken.values()))
    return services


def build_config(
    layers: list[tuple[Path, dict[str, Any]]],
) -> tuple[dict[str, Service], dict[str, ConfigError]]:
    """Merge layers (earlier = lower priority) per key, then validate every service on its own.

    Returns (valid services, invalid ones with their error). Only what concerns every service (an
    unknown top-level table, a [defaults] that is not a table or has an unknown key) raises.
    """
    defaults: dict[str, tuple[Path, Any]] = {}
    raw: dict[str, dict[str, tuple[Path, Any]]] = {}
    broken: dict[str, ConfigError] = {}
    for path, doc in layers:
        for top in doc:
            if top not in ("defaults", "services"):
                raise ConfigError(f"{path}: unknown table [{top}] (expected [defaults] and [services.NAME])")
        d = doc.get("defaults", {})
        if not isinstance(d, dict):
            raise ConfigError(f"{path}: `defaults` must be a table")
        for k, v in d.items():
            defaults[k] = (path, v)
        services = doc.get("services", {})
        if not isinstance(services, dict):
            raise ConfigError(f"{path}: `services` must be a table of [services.NAME] tables")
        for name, body in services.items():
            if not NAME_RE.match(name):
                broken[name] = ConfigError(
                    f"{path}: service {name!r}: name may only use letters, digits, '_', '.' and '-'"
                )
                continue
            if not isinstance(body, dict):
                broken[name] = ConfigError(f"{path}: service {name!r} must be a table [services.{name}]")
                continue
            slot = raw.setdefault(name, {})
            for k, v in body.items():
                slot[k] = (path, v)
    # unknown keys in [defaults] are errors even when no service uses them (and are named as [defaults]'s)
    for k, (path, _v) in list(defaults.items()):
        if k in GLOBAL_KEYS:
            del defaults[k]  # a setting of the run (build_settings), not a service default
            continue
        if k not in SERVICE_KEYS:
            raise ConfigError(f"{path}: [defaults]: unknown key {k!r} ({_known_keys(k)})")
    result: dict[str, Service] = {}
    for name, body in raw.items():
        if name in broken:
            continue
        merged = dict(defaults)
        merged.update(body)
        try:
            result[name] = make_service(name, merged)
        except ConfigError as e:
            broken[name] = e
    # a bad value in [defaults] is an error even when no service inherits it (a service that does
    # has already named it, with the service)
    for k, (path, v) in defaults.items():
        _value(f"{path}: [defaults]", path, "[defaults]", k, v, SERVICE_KEYS[k])
    return result, broken


def _known_keys(key: str | None = None) -> str:
    known = [*SERVICE_KEYS, *GLOBAL_KEYS]
    if key is not None:
        import difflib

        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        if close:
            return f"did you mean {close[0]!r}? known keys: " + ", ".join(known)
    return "known keys: " + ", ".join(known)


def _value(where: str, path: Path, name: str, key: str, raw_value: Any, types: tuple[type, ...]) -> Any:
    """Type, text and bounds checks of one value (services and [defaults] alike)."""
    if (isinstance(raw_value, bool) and bool not in types) or not isinstance(raw_value, types):
        want = " or ".join("table" if t is dict else "array" if t is list else t.__name__ for t in types)
        raise ConfigError(f"{where}: key {key!r} must be {want}, not {type(raw_value).__name__}")
    if isinstance(raw_value, str):
        _check_text(path, name, key, raw_value)
        if raw_value == "":
            raise ConfigError(f"{where}: key {key!r} must not be empty")
    if key in NUMBER_BOUNDS and isinstance(raw_value, int):
        lo, hi = NUMBER_BOUNDS[key]
        if not lo <= raw_value <= hi:
            raise ConfigError(f"{where}: key {key!r} must be in the range {lo}-{hi}, not {raw_value}")
    if key == "hostaddr" and isinstance(raw_value, str):
        import ipaddress

        try:
            ipaddress.ip_address(raw_value)
        except ValueError:
            raise ConfigError(
                f"{where}: key 'hostaddr' must be one IP address (e.g. 127.0.0.1 for a tunnel), not "
                f"{raw_value!r}; put host names in `host`"
            ) from None
    if key in ("host", "signing_host") and isinstance(raw_value, str) and raw_value.endswith("."):
        raise ConfigError(
            f"{where}: key {key!r} ends with a dot ({raw_value!r}); remove it: libpq checks the TLS "
            "certificate against the name as written and the token is signed for the name without the dot"
        )
    if key == "libpq" and isinstance(raw_value, dict):
        _libpq_table(path, name, raw_value)
    return raw_value


def _check_text(path: Path, name: str, key: str, value: str) -> None:
    if "\n" in value or "\r" in value or "\0" in value:
        raise ConfigError(f"{path}: service {name!r}: key {key!r} must not contain newline, CR or NUL")
    if value != value.strip():
        raise ConfigError(f"{path}: service {name!r}: key {key!r} has leading or trailing whitespace")


def make_service(name: str, values: Mapping[str, tuple[Path, Any]]) -> Service:
    """Validate one merged service (values carry the file each came from)."""
    kw: dict[str, Any] = {}
    wheres: dict[Path, str] = {}
    for key, (path, raw_value) in values.items():
        value: Any = raw_value
        where = wheres.get(path) or wheres.setdefault(path, f"{path}: service {name!r}")
        types = SERVICE_KEYS.get(key)
        if types is None:
            raise ConfigError(f"{where}: unknown key {key!r} ({_known_keys(key)})")
        _value(where, path, name, key, raw_value, types)  # (type, text, emptiness, bounds, libpq table)
        if key in ("port", "local_port") and not 1 <= value <= 65535:
            raise ConfigError(f"{where}: key {key!r} must be a TCP port (1-65535), not {value}")
        if key in ("refresh_before", "token_lifetime") and value <= 0:
            raise ConfigError(f"{where}: key {key!r} must be a positive number of seconds")
        if key == "libpq":
            kw[key] = _libpq_table(path, name, value)  # (checked by _value; this builds it)
        elif key == "db_groups":
            if not all(isinstance(g, str) and g for g in value):
                raise ConfigError(f"{where}: key 'db_groups' must be an array of non-empty strings")
            for g in value:
                _check_text(path, name, key, g)
            kw[key] = tuple(value)
        elif key == "sslrootcert" and value != "system":
            kw[key] = os.path.expanduser(value)
        else:
            kw[key] = value
    anypath = next(iter(values.values()))[0] if values else Path("config")
    for key in REQUIRED_KEYS:
        if key not in kw:
            path = next((p for k, (p, _) in values.items() if k != key), anypath)
            raise ConfigError(f"{path}: service {name!r}: missing required key {key!r}")
    return _finish(Service(name=name, **kw), values, anypath)


def _libpq_table(path: Path, name: str, table: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for k, v in table.items():
        where = f"{path}: service {name!r}: key 'libpq.{k}'"
        if not LIBPQ_KEY_RE.match(k):
            raise ConfigError(f"{where}: libpq keywords are lowercase letters and '_'")
        if k in SECRET_LIBPQ_KEYS:
            raise ConfigError(
                f"{where}: {k!r} carries a secret and pgiam never writes secrets to the service file "
                "(often world-readable); remove it (pgiam puts the token in pgpass; keep other secrets "
                "out of pg_service.conf)"
            )
        if isinstance(v, int) and not isinstance(v, bool) and not -LIBPQ_INT_MAX <= v <= LIBPQ_INT_MAX:
            raise ConfigError(f"{where}: {v} is out of range for a libpq integer option")
        if k in RESERVED_LIBPQ_KEYS:
            if k in ("password", "service", "servicefile"):
                raise ConfigError(f"{where}: {k!r} may not be set in a pgiam stanza (pgiam writes no passwords "
                                  "and libpq rejects nested services)")
            if k == "passfile":
                raise ConfigError(f"{where}: pgiam writes passfile= itself when the pgpass file is not at "
                                  "libpq's default path (--pgpass, PGPASSFILE)")
            raise ConfigError(f"{where}: set {k!r} as a service key, not under libpq")
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise ConfigError(f"{where}: value must be a string or integer")
        text = str(v)
        _check_text(path, name, f"libpq.{k}", text)
        out.append((k, text))
    return tuple(out)


def _finish(svc: Service, values: Mapping[str, tuple[Path, Any]], anypath: Path) -> Service:
    """Cross-key rules and derived defaults."""

    def where(key: str) -> str:
        path = values[key][0] if key in values else anypath
        return f"{path}: service {svc.name!r}: key {key!r}"

    changes: dict[str, Any] = {}
    ep = parse_endpoint(svc.sign_host)
    kind = svc.kind
    if "kind" not in values and ep is not None and ep.family in KINDS:
        kind = ep.family
    if kind not in KINDS:
        raise ConfigError(f"{where('kind')} must be one of {', '.join(KINDS)}, not {kind!r}")
    if "kind" not in values and ep is None:
        from pgiam.config import clouds

        kind = clouds.infer_kind(svc.host) or kind
    if kind in CLOUD_KINDS:
        return _finish_cloud(svc, kind, values, where)
    changes["kind"] = kind
    if svc.sslmode not in SSLMODES:
        raise ConfigError(
            f"{where('sslmode')}: IAM authentication needs TLS; use verify-full (or require/verify-ca), "
            f"not {svc.sslmode!r}"
        )
    if svc.signing_host is None and ep is None:
        what = "an IP address or localhost" if is_ip_or_local(svc.host) else "not an AWS endpoint name"
        raise ConfigError(
            f"{where('host')}: {svc.host!r} is {what}; tokens are only accepted for the endpoint name "
            "(use the endpoint as host and hostaddr/local_port for tunnels, or set signing_host to sign "
            "for this name anyway)"
        )
    if svc.region is not None and ep is not None and ep.region != svc.region:
        raise ConfigError(
            f"{where('region')}: {svc.region!r} does not match the region {ep.region!r} in host "
            f"{svc.sign_host!r}; remove the key or fix it"
        )
    if svc.region is None and ep is not None:
        changes["region"] = ep.region
    table = kinds.KINDS[kind]
    if not svc.dbname:
        changes["dbname"] = table.dbname or svc.user
    if "port" not in values:
        changes["port"] = table.port
    life = svc.token_lifetime
    if life is not None and not table.min_lifetime <= life <= table.max_lifetime:
        raise ConfigError(f"{where('token_lifetime')}: {table.lifetime_rule()}")
    if svc.cluster_identifier is not None and kind != "redshift":
        raise ConfigError(f"{where('cluster_identifier')}: only for kind \"redshift\"; remove the key")
    if svc.workgroup is not None and kind != "redshift-serverless":
        raise ConfigError(f"{where('workgroup')}: only for kind \"redshift-serverless\"; remove the key")
    for key in ("db_groups", "auto_create"):
        mapped = svc.user.startswith(kinds.REDSHIFT_IDENTITY_PREFIXES)
        if key in values and values[key][1] and (kind != "redshift" or mapped):
            raise ConfigError(
                f"{where(key)}: only for kind \"redshift\" with a plain database user "
                "(GetClusterCredentials); remove the key"
            )
    return _replace(svc, changes)


def _finish_cloud(svc: Service, kind: str, values: Mapping[str, tuple[Path, Any]], where: Any) -> Service:
    """Azure, Cloud SQL, AlloyDB: no region or signing host; the user name's form is checked."""
    from pgiam.config import clouds

    if svc.sslmode not in SSLMODES:
        raise ConfigError(f"{where('sslmode')}: IAM authentication needs TLS; use verify-full (or require/"
                          f"verify-ca), not {svc.sslmode!r}")
    changes, key, problem = clouds.finish(kind, svc.user, svc.dbname, svc.sslrootcert, values)
    if key is not None:
        raise ConfigError(f"{where(key)}: {problem}")
    return _replace(svc, changes)


def _replace(svc: Service, changes: dict[str, Any]) -> Service:
    """dataclasses.replace(svc, **changes), without re-running __init__ over every field (Service has
    no __post_init__ and no init=False field): ~10 µs a service, 1,000 services in a batch."""
    fields = Service.__dataclass_fields__
    if not all(k in fields and fields[k].init for k in changes) or hasattr(svc, "__post_init__"):
        from dataclasses import replace

        return replace(svc, **changes)
    new = object.__new__(Service)
    new.__dict__.update(svc.__dict__)
    new.__dict__.update(changes)
    return new
