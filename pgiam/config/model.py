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

from pgiam.config.endpoints import is_ip_or_local, parse_endpoint
from pgiam.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10
    import tomli as tomllib

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
LIBPQ_KEY_RE = re.compile(r"^[a-z_]+$")
KINDS = ("rds", "dsql", "redshift", "redshift-serverless")
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
    path: Path
    services: dict[str, Service]
    exists: bool = True

    def select(self, names: list[str]) -> list[Service]:
        """The named services (all when empty), in config order; unknown names are usage errors."""
        if not names:
            return list(self.services.values())
        unknown = [n for n in names if n not in self.services]
        if unknown:
            known = ", ".join(self.services) or "none"
            raise ConfigError(
                f"no service {unknown[0]!r} in {self.path} (known: {known}); add it with `pgiam add`"
            )
        return [self.services[n] for n in dict.fromkeys(names)]


def parse_toml(text: bytes, path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None


def load(path: Path, site_path: Path | None = None,
         parse: Callable[[bytes, Path], dict[str, Any]] | None = None) -> Config:
    """Read the config file (and a site-wide one whose services it inherits); a missing file is empty.
    `parse` stands in for parse_toml (pgiam.config.tomlcache)."""
    layers: list[tuple[Path, dict[str, Any]]] = []
    for p in (site_path, path):
        if p is None:
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
    return Config(path=path, services=build_services(layers), exists=exists)


def build_services(layers: list[tuple[Path, dict[str, Any]]]) -> dict[str, Service]:
    """Merge layers (earlier = lower priority) per key, then validate every service."""
    defaults: dict[str, tuple[Path, Any]] = {}
    raw: dict[str, dict[str, tuple[Path, Any]]] = {}
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
                raise ConfigError(
                    f"{path}: service {name!r}: name may only use letters, digits, '_', '.' and '-'"
                )
            if not isinstance(body, dict):
                raise ConfigError(f"{path}: service {name!r} must be a table [services.{name}]")
            slot = raw.setdefault(name, {})
            for k, v in body.items():
                slot[k] = (path, v)
    # unknown keys in [defaults] are errors even when no service uses them (and are named as [defaults]'s)
    for k, (path, _) in defaults.items():
        if k not in SERVICE_KEYS:
            raise ConfigError(f"{path}: [defaults]: unknown key {k!r} ({_known_keys()})")
    result: dict[str, Service] = {}
    for name, body in raw.items():
        merged = dict(defaults)
        merged.update(body)
        result[name] = make_service(name, merged)
    return result


def _known_keys() -> str:
    return "known keys: " + ", ".join(SERVICE_KEYS)


def _check_text(path: Path, name: str, key: str, value: str) -> None:
    if any(c in value for c in "\n\r\0"):
        raise ConfigError(f"{path}: service {name!r}: key {key!r} must not contain newline, CR or NUL")
    if value != value.strip():
        raise ConfigError(f"{path}: service {name!r}: key {key!r} has leading or trailing whitespace")


def make_service(name: str, values: Mapping[str, tuple[Path, Any]]) -> Service:
    """Validate one merged service (values carry the file each came from)."""
    kw: dict[str, Any] = {}
    for key, (path, raw_value) in values.items():
        value: Any = raw_value
        where = f"{path}: service {name!r}"
        types = SERVICE_KEYS.get(key)
        if types is None:
            raise ConfigError(f"{where}: unknown key {key!r} ({_known_keys()})")
        if (isinstance(raw_value, bool) and bool not in types) or not isinstance(raw_value, types):
            want = " or ".join("table" if t is dict else "array" if t is list else t.__name__ for t in types)
            raise ConfigError(f"{where}: key {key!r} must be {want}, not {type(raw_value).__name__}")
        if isinstance(value, str):
            _check_text(path, name, key, value)
            if value == "":
                raise ConfigError(f"{where}: key {key!r} must not be empty")
        if key in ("port", "local_port") and not 1 <= value <= 65535:
            raise ConfigError(f"{where}: key {key!r} must be a TCP port (1-65535), not {value}")
        if key in ("refresh_before", "token_lifetime") and value <= 0:
            raise ConfigError(f"{where}: key {key!r} must be a positive number of seconds")
        if key == "libpq":
            kw[key] = _libpq_table(path, name, value)
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
    if not svc.dbname:
        changes["dbname"] = "dev" if kind.startswith("redshift") else "postgres" if kind == "dsql" else svc.user
    if kind == "dsql" and svc.token_lifetime is not None and svc.token_lifetime > 604800:
        raise ConfigError(f"{where('token_lifetime')}: DSQL tokens live at most 604800 s (one week)")
    if kind == "rds" and svc.token_lifetime is not None and svc.token_lifetime != 900:
        raise ConfigError(f"{where('token_lifetime')}: RDS tokens always live 900 s; remove the key")
    if kind.startswith("redshift"):
        if "port" not in values:
            changes["port"] = 5439
        if svc.token_lifetime is not None and not 900 <= svc.token_lifetime <= 3600:
            raise ConfigError(f"{where('token_lifetime')}: Redshift passwords live 900 to 3600 s")
    if svc.cluster_identifier is not None and kind != "redshift":
        raise ConfigError(f"{where('cluster_identifier')}: only for kind \"redshift\"; remove the key")
    if svc.workgroup is not None and kind != "redshift-serverless":
        raise ConfigError(f"{where('workgroup')}: only for kind \"redshift-serverless\"; remove the key")
    for key in ("db_groups", "auto_create"):
        mapped = svc.user.startswith(("IAM:", "IAMR:", "IAMA:"))
        if key in values and values[key][1] and (kind != "redshift" or mapped):
            raise ConfigError(
                f"{where(key)}: only for kind \"redshift\" with a plain database user "
                "(GetClusterCredentials); remove the key"
            )
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
