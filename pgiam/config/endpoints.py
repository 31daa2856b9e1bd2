"""Pure recognition of AWS database endpoint host names and the region they encode."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

# <id>.<hash>.<region>.rds.amazonaws.com (instances, Aurora cluster/-ro/-custom endpoints, RDS Proxy;
# RDS Proxy extra endpoints have one more label: <name>.endpoint.proxy-<hash>.<region>...)
# <id>.<hash>.rds.<region>.amazonaws.com.cn (China)
_REGION = r"(?P<region>[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d+)"
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("rds", re.compile(rf"^[a-z0-9-]+\.(?:[a-z0-9-]+\.){{0,2}}{_REGION}\.rds\.amazonaws\.com$")),
    ("rds", re.compile(rf"^[a-z0-9-]+\.(?:[a-z0-9-]+\.){{0,2}}rds\.{_REGION}\.amazonaws\.com\.cn$")),
    ("rds", re.compile(rf"^[a-z0-9-]+\.(?:[a-z0-9-]+\.){{0,2}}{_REGION}\.rds\.amazonaws\.com\.cn$")),
    ("dsql", re.compile(rf"^[a-z0-9]+\.dsql(?:-[a-z0-9]+)?\.{_REGION}\.on\.aws$")),
    ("redshift", re.compile(rf"^[a-z0-9-]+\.[a-z0-9]+\.{_REGION}\.redshift\.amazonaws\.com(?:\.cn)?$")),
    (
        "redshift-serverless",
        re.compile(rf"^[a-z0-9-]+\.\d{{12}}\.{_REGION}\.redshift-serverless\.amazonaws\.com(?:\.cn)?$"),
    ),
)


@dataclass(frozen=True)
class Endpoint:
    """What a host name says about itself: the service family and its region."""

    family: str  # "rds" | "dsql" | "redshift" | "redshift-serverless"
    region: str


def parse_endpoint(host: str) -> Endpoint | None:
    """Recognise an AWS endpoint host name (case-insensitive); None for anything else."""
    name = host.lower().rstrip(".")
    for family, pattern in _PATTERNS:
        m = pattern.match(name)
        if m:
            return Endpoint(family, m.group("region"))
    return None


def is_ip_or_local(host: str) -> bool:
    """True for IP literals and localhost names, which can never be a signing host."""
    name = host.strip("[]").lower()
    if name in ("localhost", "localhost.localdomain") or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
